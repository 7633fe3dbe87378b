"""Weight initialisation schemes of the course notes (Course 2, week 1 "Weight initialization").

For a layer with ``n_prev`` inputs the course draws ``W = randn(n_l, n_prev) * scale`` with

=============  ==============================  ====================================
name           scale                           reference
=============  ==============================  ====================================
``zeros``      0 (fails to break symmetry)     C2W1 "Initialization" notebook
``random``     ``init_scale`` (course: 0.01    C1W3/C1W4 (0.01), C2W1 (10)
               or 10)
``xavier``     ``sqrt(1 / n_prev)``            Glorot & Bengio 2010, course variant
``he``         ``sqrt(2 / n_prev)``            He et al. 2015, "Delving deep ..."
=============  ==============================  ====================================

Biases start at zero in every scheme, as in the course. ``numpy_init_`` draws the weights the
way the notebooks do, from NumPy's legacy global generator after ``np.random.seed(seed)``, layer
after layer (``W[l] = np.random.randn(n_l, n_{l-1}) * scale``), so a run starts from exactly the
course's numbers. ``xavier`` here is the course's
``1/sqrt(n_prev)`` form, not Glorot's ``sqrt(2/(n_in+n_out))`` uniform variant.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

INIT_SCHEMES = ("zeros", "random", "xavier", "he", "default")


def init_scale(scheme: str, n_prev: int, random_scale: float = 0.01) -> float:
    """Standard deviation of the normal draw for ``scheme`` on a layer with ``n_prev`` inputs."""
    if scheme == "zeros":
        return 0.0
    if scheme == "random":
        return random_scale
    if scheme == "xavier":
        return math.sqrt(1.0 / n_prev)
    if scheme == "he":
        return math.sqrt(2.0 / n_prev)
    raise ValueError(f"unknown init scheme {scheme!r}; choose one of {INIT_SCHEMES}")


@torch.no_grad()
def init_linear_(layer: nn.Linear, scheme: str, random_scale: float = 0.01) -> None:
    """Initialise one linear layer in place; ``default`` keeps PyTorch's own initialisation."""
    if scheme == "default":
        return
    layer.weight.normal_(0.0, 1.0).mul_(init_scale(scheme, layer.in_features, random_scale))
    if layer.bias is not None:
        layer.bias.zero_()


@torch.no_grad()
def numpy_init_(layers: list[nn.Linear], scheme: str, seed: int, random_scale: float = 0.01) -> None:
    """The course's initialisation: ``RandomState(seed)`` (the stream of ``np.random.seed(seed)``)
    draws ``randn(n_l, n_prev) * scale`` for each layer in order; biases are zero. ``zeros``
    draws nothing, like the course's ``initialize_parameters_zeros``."""
    rng = np.random.RandomState(seed)
    for layer in layers:
        if scheme == "zeros":
            layer.weight.zero_()
        else:
            scale = init_scale(scheme, layer.in_features, random_scale)
            drawn = rng.randn(layer.out_features, layer.in_features) * scale  # (n_l, n_prev), W's own layout
            layer.weight.copy_(torch.from_numpy(drawn))
        if layer.bias is not None:
            layer.bias.zero_()
