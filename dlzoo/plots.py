"""The plots a learner expects from a course run, written as PNG files.

``cost_curve`` is the notebooks' "cost per iteration" figure; ``decision_boundary`` is the course's
``plot_decision_boundary`` (C1W3, C2W1, C2W2): the predicted class over the plane with the points on
top, in the Spectral colours. Both draw with matplotlib's object-oriented ``Figure`` (Agg canvas), which
needs no display and leaves pyplot's global state and backend alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    return fig, fig.add_subplot()


def cost_curve(
    steps: Sequence[int], costs: Sequence[float], path: str | Path, xlabel: str = "iteration", title: str = ""
) -> Path:
    """Line plot of ``costs`` against ``steps``, saved to ``path``."""
    fig, ax = _figure()
    ax.plot(steps, costs, marker="." if len(costs) <= 50 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cost")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return Path(path)


def decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    path: str | Path,
    resolution: int = 400,
    title: str = "",
) -> Path:
    """Filled contours of ``predict`` (an (n, 2) array of points -> n class indices) over the box
    around ``x`` (m, 2) widened by 1 on every side, as the course draws it, and the points coloured by ``y``."""
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary needs 2-D points of shape (m, 2), got {x.shape}")
    lo, hi = x.min(axis=0) - 1, x.max(axis=0) + 1
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    z = np.asarray(predict(np.c_[xx.ravel(), yy.ravel()])).reshape(xx.shape)  # (resolution, resolution)
    k = int(max(z.max(), y.max())) + 1  # classes; one colour each, also when a class is never predicted
    colours = dict(cmap="Spectral", vmin=0, vmax=max(k - 1, 1))
    fig, ax = _figure()
    ax.contourf(xx, yy, z, levels=np.arange(k + 1) - 0.5, alpha=0.8, **colours)
    ax.scatter(x[:, 0], x[:, 1], c=y, s=14, edgecolors="k", linewidths=0.3, **colours)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return Path(path)
