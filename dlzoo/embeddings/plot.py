"""2-D pictures of word vectors: PCA (by SVD) or t-SNE (scikit-learn), drawn on a matplotlib Figure (Agg, no
pyplot) and saved as PNG.

PCA projects the centred vectors on their two leading right singular vectors, each axis' sign fixed so that
its largest-magnitude loading is positive (scikit-learn's convention since 1.5, so the two agree).
t-SNE is van der Maaten and Hinton 2008 (scikit-learn's); perplexity is capped at (N - 1)/3 for N words, as
scikit-learn requires it below N.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlzoo.embeddings.vectors import KeyedVectors


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, d) -> (N, 2) coordinates on the first two principal components."""
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"PCA needs an (N >= 2, d >= 2) array, got shape {x.shape}")
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # rows of vt: principal axes
    axes = vt[:2]  # (2, d)
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(1)])
    return centred @ (axes * signs[:, None]).T


def tsne_2d(x: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, d) -> (N, 2) t-SNE coordinates, on one thread: for the few hundred words of a plot, OpenMP's
    thread start-up costs more than it saves (and much more on a busy machine)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if x.shape[0] < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {x.shape[0]}")
    perplexity = min(perplexity, (x.shape[0] - 1) / 3)
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def plot_words(kv: KeyedVectors, words: Sequence[str], path: str | Path, method: str = "pca",
               seed: int = 0) -> np.ndarray:
    """Scatter `words` in 2-D with their labels, save a PNG at `path`, return the (N, 2) coordinates."""
    from matplotlib.figure import Figure  # renders with Agg, no pyplot state or GUI backend

    if method not in ("pca", "tsne"):
        raise ValueError(f"unknown method {method!r}; expected 'pca' or 'tsne'")
    missing = [w for w in words if w not in kv]
    if missing:
        raise ValueError(f"words not in the vocabulary: {missing[:10]}")
    x = np.stack([kv[w] for w in words]).astype(np.float64)
    xy = pca_2d(x) if method == "pca" else tsne_2d(x, seed)
    fig = Figure(figsize=(8, 8))
    ax = fig.subplots()
    ax.scatter(xy[:, 0], xy[:, 1], s=12)
    for (px, py), word in zip(xy, words):
        ax.annotate(word, (px, py), fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"{method.upper()} of {len(words)} word vectors")
    fig.savefig(path, dpi=100, format="png")
    return xy
