"""Courses 1 and 2 reproduced through the runner: the notebooks' published numbers
(../shared/COURSE_TARGETS.md), exactly where the course's computation is deterministic.

Accuracies are compared as counts of correct examples; costs to at least 4 significant digits (most
agree to 12 or more). The cheap runs are in CI; the long ones are ``slow``
(``pytest -m slow tests/test_course_reproduction.py``; ``scripts/reproduce_course.py`` prints them all).
"""

import pytest

from tests.conftest import shared_data_dir

needs_course_files = pytest.mark.skipif(shared_data_dir() is None, reason="course files absent: set DLZOO_DATA_DIR")


def correct(accuracy: float, m: int) -> int:
    """The number of correct examples behind an accuracy over m examples."""
    count = round(accuracy * m)
    assert abs(count - accuracy * m) < 1e-6, f"{accuracy} is no count out of {m}"
    return count


@needs_course_files
def test_c1w2_logistic_regression_on_cats(run):
    metrics, out = run("experiment=c1w2_logreg_cat")
    assert correct(metrics["train/acc"], 209) == 207  # 99.04306220095694 %
    assert correct(metrics["test/acc"], 50) == 35  # 70.0 %
    assert metrics["train/cost_epoch"] == 1900 and metrics["train/cost"] == pytest.approx(0.140872, abs=5e-7)
    first = (out / "costs.csv").read_text().split()[1]
    assert first.startswith("0,") and float(first[2:]) == pytest.approx(0.693147, abs=5e-7)  # ln 2 at w = 0


def test_c1w3_planar_flower(run):
    metrics, _ = run("experiment=c1w3_planar")
    assert metrics["train/cost_epoch"] == 9000 and metrics["train/cost"] == pytest.approx(0.218607, abs=5e-7)
    assert int(100 * metrics["train/acc"]) == 90  # the notebook prints "Accuracy: %d" % accuracy


@needs_course_files
def test_c1w4_two_layer_on_cats(run):  # ~30 s: 2500 steps through (209, 12288) x (12288, 7) float64 products
    metrics, _ = run("experiment=c1w4_two_layer")
    assert metrics["train/cost_epoch"] == 2400
    assert metrics["train/cost"] == pytest.approx(0.048554785628770226, rel=1e-9)
    assert metrics["train/acc"] == 1.0 and correct(metrics["test/acc"], 50) == 36  # 0.72


@pytest.mark.slow
@needs_course_files
def test_c1w4_deep_on_cats(run):
    metrics, _ = run("experiment=c1w4_deep")
    assert metrics["train/cost"] == pytest.approx(0.092878, abs=5e-7)
    assert correct(metrics["train/acc"], 209) == 206 and correct(metrics["test/acc"], 50) == 40  # 0.985645933014, 0.8


@pytest.mark.slow
@pytest.mark.parametrize(
    "hidden,published",
    [
        (1, 67.5), (2, 67.25), (3, 90.75), (4, 90.5), (5, 91.25), (20, 90.0),
        pytest.param(50, 90.25, marks=pytest.mark.xfail(strict=True, reason=(
            "dlzoo gets 90.75 %: at lr 1.2 the training oscillates and rounding differences between NumPy's "
            "and torch's kernels flip 2 points (a NumPy port of the notebook misses other rows)"
        ))),
    ],
)
def test_c1w3_hidden_layer_sizes(run, hidden, published):
    metrics, _ = run("experiment=c1w3_planar", "trainer.max_epochs=5000", f"model.net.hidden_sizes=[{hidden}]")
    assert correct(metrics["train/acc"], 400) == round(published * 4)


@pytest.mark.slow
def test_c2w1_zero_initialisation_never_breaks_symmetry(run):
    metrics, _ = run("experiment=c2w1_init_zeros")
    assert metrics["train/cost"] == pytest.approx(0.6931471805599453, rel=1e-15)
    assert metrics["train/acc"] == 0.5 and metrics["test/acc"] == 0.5


@pytest.mark.slow
def test_c2w1_large_random_initialisation(run):
    metrics, _ = run("experiment=c2w1_init_random")
    assert abs(correct(metrics["train/acc"], 300) - 249) <= 1 and abs(correct(metrics["test/acc"], 100) - 86) <= 1


@pytest.mark.slow
def test_c2w1_he_initialisation(run):
    metrics, _ = run("experiment=c2w1_init_he")
    assert metrics["train/cost_epoch"] == 14000
    assert metrics["train/cost"] == pytest.approx(0.07357895962677366, rel=1e-9)
    assert correct(metrics["train/acc"], 300) == 298 and correct(metrics["test/acc"], 100) == 96  # 0.99333, 0.96


@pytest.mark.slow
@needs_course_files
def test_c2w1_no_regularisation(run):
    metrics, _ = run("experiment=c2w1_reg_none")
    assert metrics["train/cost_epoch"] == 20000
    assert metrics["train/cost"] == pytest.approx(0.13851642423255986, rel=1e-9)
    assert correct(metrics["train/acc"], 211) == 200 and correct(metrics["test/acc"], 200) == 183  # 0.94787, 0.915


@pytest.mark.slow
@needs_course_files
def test_c2w1_l2_regularisation(run):
    metrics, _ = run("experiment=c2w1_reg_l2")
    assert correct(metrics["train/acc"], 211) == 198 and correct(metrics["test/acc"], 200) == 186  # 0.93839, 0.93


@pytest.mark.slow
@needs_course_files
def test_c2w1_dropout(run):
    metrics, _ = run("experiment=c2w1_reg_dropout")
    assert correct(metrics["train/acc"], 211) == 196 and correct(metrics["test/acc"], 200) == 190  # 0.92891, 0.95


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment,published",
    [
        ("c2w2_gd", 0.7167),
        ("c2w2_momentum", 0.7167),
        ("c2w2_adam", 0.9433),
        ("c2w2_gd_decay", 0.9433),
        ("c2w2_momentum_decay", 0.9533),
        ("c2w2_adam_decay", 0.94),
    ],
)
def test_c2w2_optimisers(run, experiment, published):
    metrics, _ = run(f"experiment={experiment}")
    assert abs(correct(metrics["train/acc"], 300) - round(published * 300)) <= 1
