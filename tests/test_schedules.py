"""Every learning-rate schedule against its formula, epoch by epoch."""

import math

import pytest
import torch

from dlzoo.optim.schedules import ExponentialDecay, InverseSqrtDecay, InverseTimeDecay, StaircaseDecay

ALPHA0 = 0.2


def lrs(make, epochs=25):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=ALPHA0)
    scheduler = make(optimizer)
    values = []
    for _ in range(epochs):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


@pytest.mark.parametrize(
    "make,formula",
    [
        (lambda o: InverseTimeDecay(o, decay_rate=1.0), lambda e: ALPHA0 / (1 + 1.0 * e)),
        (lambda o: InverseTimeDecay(o, decay_rate=0.5), lambda e: ALPHA0 / (1 + 0.5 * e)),
        (lambda o: InverseTimeDecay(o, decay_rate=1.0, interval=10), lambda e: ALPHA0 / (1 + math.floor(e / 10))),
        (lambda o: ExponentialDecay(o, base=0.95), lambda e: 0.95**e * ALPHA0),
        (lambda o: InverseSqrtDecay(o, k=0.5), lambda e: 0.5 / math.sqrt(e + 1) * ALPHA0),
        (lambda o: StaircaseDecay(o, step_size=7, drop=0.1), lambda e: ALPHA0 * 0.1 ** (e // 7)),
    ],
)
def test_schedule_matches_formula(make, formula):
    assert lrs(make) == pytest.approx([formula(e) for e in range(25)], rel=1e-12)


def test_course_scheduled_decay_values():
    # C2W2: lr = lr0 / (1 + decay_rate * floor(epoch / 1000)) with lr0 0.1, decay_rate 1
    values = lrs(lambda o: InverseTimeDecay(o, decay_rate=1.0, interval=1000), epochs=3001)
    assert values[999] == pytest.approx(ALPHA0)
    assert values[1000] == pytest.approx(ALPHA0 / 2)
    assert values[3000] == pytest.approx(ALPHA0 / 4)
