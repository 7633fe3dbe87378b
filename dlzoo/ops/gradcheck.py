"""Gradient checking (Course 2, week 1, "Gradient checking").

For a cost J(theta) with the parameters flattened into one vector theta, each component's
derivative is approximated by the two-sided difference

    dtheta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps),        eps = 1e-7

and compared with the backward pass's gradient dtheta by the relative difference

    difference = ||dtheta - dtheta_approx||_2 / (||dtheta||_2 + ||dtheta_approx||_2).

The course's rule of thumb: below ~1e-7 the backward pass is right, above ~1e-3 it has a bug
(its threshold is 2e-7). Run it in float64: in float32 the differences drown in round-off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def relative_difference(grad: torch.Tensor, grad_approx: torch.Tensor) -> float:
    """||g - g'|| / (||g|| + ||g'||)."""
    numerator = torch.linalg.vector_norm(grad - grad_approx)
    denominator = torch.linalg.vector_norm(grad) + torch.linalg.vector_norm(grad_approx)
    return float(numerator / denominator)


@torch.no_grad()
def numerical_gradient(cost: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], eps: float = 1e-7) -> torch.Tensor:
    """Two-sided differences of ``cost()`` for every element of ``params``, flattened and
    concatenated. Each parameter is nudged in place and restored."""
    approx = []
    for p in params:
        flat = p.view(-1)
        g = torch.empty_like(flat)
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + eps
            j_plus = cost().item()
            flat[i] = original - eps
            j_minus = cost().item()
            flat[i] = original
            g[i] = (j_plus - j_minus) / (2 * eps)
        approx.append(g)
    return torch.cat(approx)


def backward_gradient(cost: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The gradient the backward pass computes, flattened and concatenated like ``numerical_gradient``."""
    grads = torch.autograd.grad(cost(), list(params))
    return torch.cat([g.reshape(-1) for g in grads])


def gradient_check(cost: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], eps: float = 1e-7) -> float:
    """The course's relative difference between the backward pass and two-sided differences."""
    params = list(params)
    return relative_difference(backward_gradient(cost, params), numerical_gradient(cost, params, eps))
