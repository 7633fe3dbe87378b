"""Gradient checking as in Course 2, week 1 ("Gradient Checking"), with dlzoo.ops.gradcheck.

Two-sided differences with eps = 1e-7 against a backward pass, compared by the relative difference
||g - g'|| / (||g|| + ||g'||) (threshold 2e-7):

1. the 1-D example, J(theta) = theta * x at x = 2, theta = 4: the course prints 2.919335883291695e-10;
2. the n-dimensional example (``gradient_check_n_test_case``): np.random.seed(1), then x = randn(4, 3),
   W1 randn(5, 4), b1 randn(5, 1), W2 randn(3, 5), b2 randn(3, 1), W3 randn(1, 3), b3 randn(1, 1);
   y = [1, 1, 0]; LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID with the mean cross-entropy.
   Its backward pass is the notebook's hand-written ``backward_propagation_n``, carried by a custom
   ``torch.autograd.Function``, with the notebook's two planted bugs (``dW2`` doubled, ``db1`` with
   ``4./m`` instead of ``1./m``): the course prints 0.285093156781 ("There is a mistake"), and about
   1.19e-07 once they are fixed.

The example keeps the notebook's layout, one example per column (x is (features, m)).

    python scripts/gradient_check.py
"""

from __future__ import annotations

import numpy as np
import torch

from dlzoo.ops.gradcheck import gradient_check

THRESHOLD = 2e-7  # the notebook's
PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


def one_dimensional(x: float = 2.0, theta: float = 4.0) -> float:
    """The relative difference for J(theta) = theta * x."""
    x_t = torch.tensor(x, dtype=torch.float64)
    theta_t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    return gradient_check(lambda: theta_t * x_t, [theta_t])


def course_n_test_case() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """x (4, 3), y (1, 3) and the parameters, drawn in the notebook's order after np.random.seed(1)."""
    rng = np.random.RandomState(1)
    x = rng.randn(4, 3)
    shapes = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    params = {name: torch.tensor(rng.randn(*shape), requires_grad=True) for name, shape in shapes.items()}
    return torch.tensor(x), torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64), params


class CourseThreeLayerCost(torch.autograd.Function):
    """The notebook's ``forward_propagation_n`` (the cost) with its ``backward_propagation_n`` as
    the backward pass; ``planted_bugs`` keeps the notebook's two deliberate mistakes."""

    @staticmethod
    def forward(ctx, x, y, planted_bugs, w1, b1, w2, b2, w3, b3):
        m = x.shape[1]
        z1 = w1 @ x + b1  # (5, m)
        a1 = torch.relu(z1)
        z2 = w2 @ a1 + b2  # (3, m)
        a2 = torch.relu(z2)
        z3 = w3 @ a2 + b3  # (1, m)
        a3 = torch.sigmoid(z3)
        log_probs = -torch.log(a3) * y + -torch.log(1 - a3) * (1 - y)
        ctx.save_for_backward(x, y, a1, a2, a3, w2, w3)
        ctx.planted_bugs = planted_bugs
        return 1.0 / m * log_probs.sum()

    @staticmethod
    def backward(ctx, grad_cost):
        x, y, a1, a2, a3, w2, w3 = ctx.saved_tensors
        m = x.shape[1]
        bug_w2, bug_b1 = (2.0, 4.0) if ctx.planted_bugs else (1.0, 1.0)
        dz3 = a3 - y  # (1, m)
        dw3 = 1.0 / m * dz3 @ a2.T
        db3 = 1.0 / m * dz3.sum(1, keepdim=True)
        dz2 = (w3.T @ dz3) * (a2 > 0)  # (3, m)
        dw2 = 1.0 / m * dz2 @ a1.T * bug_w2
        db2 = 1.0 / m * dz2.sum(1, keepdim=True)
        dz1 = (w2.T @ dz2) * (a1 > 0)  # (5, m)
        dw1 = 1.0 / m * dz1 @ x.T
        db1 = bug_b1 / m * dz1.sum(1, keepdim=True)
        return (None, None, None, *(grad_cost * g for g in (dw1, db1, dw2, db2, dw3, db3)))


def n_dimensional(planted_bugs: bool) -> float:
    """The relative difference for the notebook's three-layer example."""
    x, y, params = course_n_test_case()
    ordered = [params[name] for name in PARAMS]  # the notebook's dictionary_to_vector order
    return gradient_check(lambda: CourseThreeLayerCost.apply(x, y, planted_bugs, *ordered), ordered)


def verdict(difference: float) -> str:
    if difference > THRESHOLD:
        return f"There is a mistake in the backward propagation! difference = {difference}"
    return f"Your backward propagation works perfectly fine! difference = {difference}"


def main() -> None:
    print(f"1-D, J = theta * x:            {verdict(one_dimensional())}   (course: 2.919335883291695e-10)")
    print(f"n-D, the notebook's two bugs:  {verdict(n_dimensional(planted_bugs=True))}   (course: 0.285093156781)")
    print(f"n-D, bugs fixed:               {verdict(n_dimensional(planted_bugs=False))}   (course: about 1.19e-07)")


if __name__ == "__main__":
    main()
