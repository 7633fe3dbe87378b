"""scripts/gradient_check.py: the C2W1 gradient-checking numbers, through dlzoo.ops.gradcheck."""

import importlib.util

import pytest
import torch

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("gradient_check", REPO / "scripts" / "gradient_check.py")
gc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gc)


def test_one_dimensional_value():
    assert gc.one_dimensional() == pytest.approx(2.919335883291695e-10, rel=1e-6)


def test_planted_bugs_give_the_courses_difference():
    difference = gc.n_dimensional(planted_bugs=True)
    assert difference == pytest.approx(0.285093156781, abs=1e-11)  # the course prints 0.285093156781
    assert difference > gc.THRESHOLD


def test_fixed_backward_passes_the_check():
    difference = gc.n_dimensional(planted_bugs=False)
    assert difference == pytest.approx(1.19e-07, rel=0.01) and difference < gc.THRESHOLD


def test_fixed_course_backward_equals_autograd():
    # the hand-written backward without its bugs is the true gradient of the same forward pass
    x, y, params = gc.course_n_test_case()
    ordered = [params[name] for name in gc.PARAMS]
    course = torch.autograd.grad(gc.CourseThreeLayerCost.apply(x, y, False, *ordered), ordered)

    def cost(w1, b1, w2, b2, w3, b3):
        a3 = torch.sigmoid(w3 @ torch.relu(w2 @ torch.relu(w1 @ x + b1) + b2) + b3)
        return -(y * torch.log(a3) + (1 - y) * torch.log(1 - a3)).mean()

    for mine, reference in zip(course, torch.autograd.grad(cost(*ordered), ordered)):
        torch.testing.assert_close(mine, reference, rtol=1e-12, atol=1e-15)


def test_script_prints_the_verdicts(capsys):
    gc.main()
    lines = capsys.readouterr().out.splitlines()
    assert "works perfectly fine! difference = 2.919335883291695e-10" in lines[0]
    assert "There is a mistake in the backward propagation! difference = 0.2850931567" in lines[1]
    assert "works perfectly fine!" in lines[2]
