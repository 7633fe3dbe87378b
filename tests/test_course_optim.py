"""Course optimisers and decay schedule (dlzoo/optim/course.py) against torch.optim, hand-computed
steps and the C2W2 notebook's training loop."""

import math

import pytest
import torch

from dlzoo.optim.course import CourseAdam, CourseMomentum, CourseRMSprop, ScheduledDecay


def trajectory(make_optimizer, steps: int = 60) -> torch.Tensor:
    """Parameters after ``steps`` updates on a fixed non-quadratic loss, from a fixed start."""
    torch.manual_seed(0)
    w = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(7, 3, dtype=torch.float64)
    optimizer = make_optimizer([w])
    for _ in range(steps):
        optimizer.zero_grad()
        ((w - target) ** 4 + torch.sin(3 * w)).sum().backward()
        optimizer.step()
    return w.detach()


def test_course_adam_equals_torch_adam():
    course = trajectory(lambda p: CourseAdam(p, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8))
    reference = trajectory(lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8))
    torch.testing.assert_close(course, reference, rtol=1e-10, atol=1e-12)


def test_course_momentum_equals_torch_sgd_momentum_with_rescaled_lr():
    # torch: v' = beta v' + dW, W -= lr' v'; the course's v is (1 - beta) v', so lr' = lr (1 - beta)
    course = trajectory(lambda p: CourseMomentum(p, lr=0.01, beta=0.9))
    reference = trajectory(lambda p: torch.optim.SGD(p, lr=0.01 * (1 - 0.9), momentum=0.9))
    torch.testing.assert_close(course, reference, rtol=1e-10, atol=1e-12)
    # and it is not plain gradient descent
    assert not torch.allclose(course, trajectory(lambda p: torch.optim.SGD(p, lr=0.01)))


def test_course_rmsprop_two_steps_by_hand():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    optimizer = CourseRMSprop([w], lr=0.1, beta2=0.9, eps=1e-8)
    expected, s = [1.0, -2.0], [0.0, 0.0]
    for grads in ([0.5, -3.0], [2.0, 1.0]):
        w.grad = torch.tensor(grads, dtype=torch.float64)
        optimizer.step()
        for i, g in enumerate(grads):  # S = beta2 S + (1 - beta2) g^2; W -= lr g / (sqrt(S) + eps)
            s[i] = 0.9 * s[i] + 0.1 * g * g
            expected[i] -= 0.1 * g / (math.sqrt(s[i]) + 1e-8)
    assert w.tolist() == pytest.approx(expected, rel=1e-14)


def test_course_rmsprop_equals_torch_rmsprop():
    course = trajectory(lambda p: CourseRMSprop(p, lr=0.01, beta2=0.99, eps=1e-8))
    reference = trajectory(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8))
    torch.testing.assert_close(course, reference, rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_every_weight_by_lr():
    # bias correction makes the first step lr * g / (|g| + eps): lr times the sign of g
    w = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    optimizer = CourseAdam([w], lr=0.1)
    w.grad = torch.tensor([10.0, -0.01, 2.0], dtype=torch.float64)
    optimizer.step()
    assert w.tolist() == pytest.approx([2.9, -0.9, 0.4], abs=1e-6)


@pytest.mark.parametrize(
    "make",
    [lambda p: CourseMomentum(p, beta=1.0), lambda p: CourseAdam(p, lr=-1.0), lambda p: CourseRMSprop(p, eps=-1e-8)],
)
def test_bad_hyperparameters_are_refused(make):
    with pytest.raises(ValueError):
        make([torch.zeros(2, requires_grad=True)])


def test_scheduled_decay_follows_the_notebooks_loop():
    # C2W2: for i in range(num_epochs):
    #           <train epoch i at learning_rate>; learning_rate = lr0 / (1 + rate * floor(i / 1000))
    lr0, rate, epochs = 0.1, 1.0, 3500
    expected, learning_rate = [], lr0
    for i in range(epochs):
        expected.append(learning_rate)
        learning_rate = lr0 / (1 + rate * math.floor(i / 1000))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = ScheduledDecay(optimizer, decay_rate=rate, time_interval=1000)
    got = []
    for _ in range(epochs):
        got.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert got == pytest.approx(expected, rel=1e-15)
    assert got[1000] == lr0 and got[1001] == lr0 / 2 and got[3001] == lr0 / 4  # the notebook's one-epoch lag
