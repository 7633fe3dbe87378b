"""Learning-rate decay schedules of Course 2, week 2 ("Learning rate decay").

Each is a ``LambdaLR``: the learning rate at epoch e (counted from 0, stepped once an epoch by
default) is ``alpha0 * factor(e)`` with alpha0 the optimiser's initial ``lr``:

==========================  ============================================  =========================
schedule                    factor(e)                                     notes
==========================  ============================================  =========================
``InverseTimeDecay``        1 / (1 + decay_rate * floor(e / interval))    interval 1: the notes'
                                                                          1/(1 + decay_rate*epoch);
                                                                          interval 1000: C2W2's
                                                                          "scheduled" decay
``ExponentialDecay``        base ** e                                     the notes' 0.95^epoch
``InverseSqrtDecay``        k / sqrt(e + 1)                               the notes' k/sqrt(epoch_num)
                                                                          with epoch_num from 1
``StaircaseDecay``          drop ** floor(e / step_size)                  discrete staircase
==========================  ============================================  =========================
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class InverseTimeDecay(LambdaLR):
    def __init__(self, optimizer: Optimizer, decay_rate: float = 1.0, interval: int = 1) -> None:
        self.decay_rate, self.interval = decay_rate, interval
        super().__init__(optimizer, self.factor)

    def factor(self, epoch: int) -> float:
        return 1.0 / (1.0 + self.decay_rate * (epoch // self.interval))


class ExponentialDecay(LambdaLR):
    def __init__(self, optimizer: Optimizer, base: float = 0.95) -> None:
        self.base = base
        super().__init__(optimizer, self.factor)

    def factor(self, epoch: int) -> float:
        return self.base**epoch


class InverseSqrtDecay(LambdaLR):
    def __init__(self, optimizer: Optimizer, k: float = 1.0) -> None:
        self.k = k
        super().__init__(optimizer, self.factor)

    def factor(self, epoch: int) -> float:
        return self.k / math.sqrt(epoch + 1)


class StaircaseDecay(LambdaLR):
    def __init__(self, optimizer: Optimizer, step_size: int = 10, drop: float = 0.5) -> None:
        self.step_size, self.drop = step_size, drop
        super().__init__(optimizer, self.factor)

    def factor(self, epoch: int) -> float:
        return self.drop ** (epoch // self.step_size)
