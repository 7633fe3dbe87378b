"""The optimisers and the learning-rate schedule of Course 2, week 2 ("Optimization algorithms"),
written as the C2W2 notebook writes them.

For each parameter W with gradient dW, at update t = 1, 2, ... (counted over all mini-batches):

    momentum:  v = beta v + (1 - beta) dW                               W -= lr v
    RMSprop:   S = beta2 S + (1 - beta2) dW^2                           W -= lr dW / (sqrt(S) + eps)
    Adam:      v = beta1 v + (1 - beta1) dW      v^ = v / (1 - beta1^t)
               S = beta2 S + (1 - beta2) dW^2    S^ = S / (1 - beta2^t)   W -= lr v^ / (sqrt(S^) + eps)

with v and S starting at zero (Adam: Kingma & Ba 2015, "Adam: A method for stochastic
optimization", Algorithm 1, whose epsilon sits outside the square root as here).

How they relate to ``torch.optim``: course momentum is ``SGD(momentum=beta)`` with the learning rate
scaled by ``1 - beta`` (torch accumulates ``v' = beta v' + dW``, which is ``v / (1 - beta)``);
course RMSprop is ``RMSprop(alpha=beta2)``; course Adam is ``Adam`` (torch divides by
``sqrt(1 - beta2^t)`` after the square root instead of inside it). The trajectories agree up to
rounding; these classes exist so that the course's hyperparameters mean what the course says and
the update reads as the lecture writes it.

``ScheduledDecay`` is the notebook's ``schedule_lr_decay`` applied the way its training loop applies it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def _check(lr: float, eps: float = 0.0, **betas: float) -> None:
    if lr < 0.0:
        raise ValueError(f"learning rate must be >= 0, got {lr}")
    if eps < 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    for name, beta in betas.items():
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {beta}")


class _CourseOptimizer(Optimizer):
    """The shared loop: evaluate the closure, then ``update`` every parameter that has a gradient."""

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state[p], group)
        return loss

    def update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class CourseMomentum(_CourseOptimizer):
    """Gradient descent with momentum: v = beta v + (1 - beta) dW; W -= lr v."""

    def __init__(self, params: Iterable, lr: float = 0.01, beta: float = 0.9) -> None:
        _check(lr, beta=beta)
        super().__init__(params, dict(lr=lr, beta=beta))

    def update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["v"] = torch.zeros_like(p)
        v = state["v"]
        v.mul_(group["beta"]).add_(grad, alpha=1 - group["beta"])
        p.sub_(v, alpha=group["lr"])


class CourseRMSprop(_CourseOptimizer):
    """RMSprop: S = beta2 S + (1 - beta2) dW^2; W -= lr dW / (sqrt(S) + eps)."""

    def __init__(self, params: Iterable, lr: float = 0.01, beta2: float = 0.999, eps: float = 1e-8) -> None:
        _check(lr, eps, beta2=beta2)
        super().__init__(params, dict(lr=lr, beta2=beta2, eps=eps))

    def update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["S"] = torch.zeros_like(p)
        s = state["S"]
        s.mul_(group["beta2"]).addcmul_(grad, grad, value=1 - group["beta2"])
        p.addcdiv_(grad, s.sqrt().add_(group["eps"]), value=-group["lr"])


class CourseAdam(_CourseOptimizer):
    """Adam with bias correction, eps outside the square root; t counts updates from 1."""

    def __init__(
        self, params: Iterable, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        _check(lr, eps, beta1=beta1, beta2=beta2)
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps))

    def update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        if not state:
            state["t"], state["v"], state["S"] = 0, torch.zeros_like(p), torch.zeros_like(p)
        state["t"] += 1
        t, v, s, beta1, beta2 = state["t"], state["v"], state["S"], group["beta1"], group["beta2"]
        v.mul_(beta1).add_(grad, alpha=1 - beta1)
        s.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        v_hat = v / (1 - beta1**t)
        s_hat = s / (1 - beta2**t)
        p.addcdiv_(v_hat, s_hat.sqrt_().add_(group["eps"]), value=-group["lr"])


class ScheduledDecay(LambdaLR):
    """C2W2's fixed-interval decay, ``lr = lr0 / (1 + decay_rate * floor(epoch_num / time_interval))``,
    stepped once an epoch as the notebook's loop steps it.

    The notebook recomputes the rate *after* epoch i (epochs from 0) from i, so epoch e >= 1 trains
    with ``floor((e - 1) / time_interval)``: epochs 1000, 2000, ... still train at the previous rate.
    ``dlzoo.optim.schedules.InverseTimeDecay(interval=time_interval)`` is the same schedule without
    that one-epoch lag (it changes the C2W2 costs in the fourth digit, not the accuracies).
    """

    def __init__(self, optimizer: Optimizer, decay_rate: float = 1.0, time_interval: int = 1000) -> None:
        if time_interval < 1:
            raise ValueError(f"time_interval must be >= 1, got {time_interval}")
        self.decay_rate, self.time_interval = decay_rate, time_interval
        super().__init__(optimizer, self.factor)

    def factor(self, epoch: int) -> float:
        return 1.0 / (1.0 + self.decay_rate * math.floor(max(epoch - 1, 0) / self.time_interval))
