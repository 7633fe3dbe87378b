"""Gradient checking: the course's 1-D value, a planted bug, and the MLP's backward pass."""

import pytest
import torch
import torch.nn.functional as F

from dlzoo.models.mlp import MLP
from dlzoo.ops.gradcheck import backward_gradient, gradient_check, numerical_gradient


def test_course_one_dimensional_value():
    # J(theta) = theta * x at x = 2, theta = 4: the course prints 2.919335883291695e-10
    x = torch.tensor(2.0, dtype=torch.float64)
    theta = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    assert gradient_check(lambda: theta * x, [theta]) == pytest.approx(2.919335883291695e-10, rel=1e-6)


def mlp_cost(activation: str):
    torch.manual_seed(0)
    model = MLP(in_features=4, hidden_sizes=[5, 3], num_classes=1, activation=activation, init="he").double()
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (6,), dtype=torch.float64)
    return model, lambda: F.binary_cross_entropy_with_logits(model(x).squeeze(1), y)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_backward_agrees_with_two_sided_differences(activation):
    model, cost = mlp_cost(activation)
    assert gradient_check(cost, list(model.parameters())) < 2e-7  # the course's threshold


def test_mlp_agrees_with_torch_autograd_gradcheck():
    model, cost = mlp_cost("tanh")
    params = list(model.parameters())
    # our two-sided differences equal the backward pass element by element ...
    assert torch.allclose(numerical_gradient(cost, params), backward_gradient(cost, params), atol=1e-6)
    # ... and torch's own checker, on the same network as a function of its parameters, agrees
    names = [name for name, _ in model.named_parameters()]
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inputs = tuple(p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(lambda *ps: torch.func.functional_call(model, dict(zip(names, ps)), (x,)), inputs)


class BuggySquare(torch.autograd.Function):
    """y = x^2 with a planted bug in the backward pass (3x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * 3 * x


def test_planted_backward_bug_is_flagged():
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    assert gradient_check(lambda: BuggySquare.apply(x).sum(), [x]) > 1e-3
    assert gradient_check(lambda: (x * x).sum(), [x]) < 1e-7
