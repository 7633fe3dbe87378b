"""Attention over a padded sequence of encoder states: the course's form, Bahdanau, Luong.

Every scorer gives one energy e<t'> for each encoder state a<t'> given the decoder query s, then

    alpha<t'> = exp(e<t'>) / sum_{t'' not pad} exp(e<t''>)       (softmax over t', padding excluded)
    context   = sum_{t'} alpha<t'> a<t'>

Scorers (query s is (B, Hq), keys a are (B, T, Hk)):

- ``CourseAttention`` (Deep Learning Specialization, course 5 week 3, ``one_step_attention``): s<t-1> is
  repeated over t', concatenated with a<t'>, and passed through Dense(10, tanh) then Dense(1, relu):
  e<t'> = relu(w2 . tanh(W1 [a<t'>; s<t-1>] + b1) + b2).
- ``BahdanauAttention`` (Bahdanau, Cho, Bengio 2015, "Neural Machine Translation by Jointly Learning to Align
  and Translate", eq. 6 and appendix A.1.2): e<t'> = v . tanh(W s + U a<t'>).
- ``LuongAttention`` (Luong, Pham, Manning 2015, "Effective Approaches to Attention-based Neural Machine
  Translation", eq. 8): 'dot' e<t'> = s . a<t'>, 'general' e<t'> = s . W a<t'>.
  Deviation: Luong scores the current decoder state h_t after the RNN step and feeds h~_t = tanh(W_c [c; h_t])
  forward. Here the scorers are interchangeable parts of one decoder (dlzoo.models.seq2seq), which queries
  with s<t-1> as the course and Bahdanau do.

The query-independent part of each score (U a<t'> for Bahdanau, W1's a-half for the course, W a<t'> for
Luong 'general') is computed once per sentence by ``project_keys``; a decoder passes it back at every step as
``projected``, which is the usual implementation of Bahdanau's "U a can be pre-computed" (appendix A.1.2).

Padding: energies at pad positions are set to -inf before the softmax, so their weights are exactly 0 and the
non-pad weights sum to 1. A row with no real position is an error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def masked_attention(scores: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax of ``scores`` (B, T) over the True positions of ``mask`` (B, T); returns (context, weights)."""
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, T), exactly 0 on padding
    context = torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, Hk)
    return context, weights


class Attention(nn.Module):
    """Shared interface: ``forward(query (B, Hq), keys (B, T, Hk), mask (B, T) bool) -> (context, weights)``.

    Subclasses define ``project_keys(keys (B, T, Hk)) -> (B, T, P)``, the part of the score that does not depend
    on the query, and ``score(query (B, Hq), projected (B, T, P)) -> energies (B, T)``."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim

    def project_keys(self, keys: Tensor) -> Tensor:
        raise NotImplementedError

    def score(self, query: Tensor, projected: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None, projected: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``projected``: ``project_keys(keys)`` when the caller has it already (a decoder, at every step)."""
        if query.dim() != 2 or keys.dim() != 3 or query.shape[0] != keys.shape[0]:
            raise ValueError(
                f"expected query (B, Hq) and keys (B, T, Hk), got {tuple(query.shape)} and {tuple(keys.shape)}"
            )
        if query.shape[1] != self.query_dim or keys.shape[2] != self.key_dim:
            raise ValueError(
                f"{type(self).__name__} was built for query dim {self.query_dim} and key dim {self.key_dim}, "
                f"got {query.shape[1]} and {keys.shape[2]}"
            )
        if mask is None:
            mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        if mask.shape != keys.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be bool of shape {tuple(keys.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}"
            )
        if not bool(mask.any(dim=1).all()):
            raise ValueError("mask has a row with no real (True) position: attention over nothing is undefined")
        if projected is None:
            projected = self.project_keys(keys)
        return masked_attention(self.score(query, projected), keys, mask)


class CourseAttention(Attention):
    """The course's one-step attention: Dense(hidden, tanh) then Dense(1, relu) over [a<t'>; s<t-1>]."""

    def __init__(self, query_dim: int, key_dim: int, hidden: int = 10) -> None:
        super().__init__(query_dim, key_dim)
        self.dense1 = nn.Linear(key_dim + query_dim, hidden)
        self.dense2 = nn.Linear(hidden, 1)

    # dense1([a; s]) = W_a a + W_s s + b: the a-half once per sentence, the s-half (RepeatVector) each step
    def project_keys(self, keys: Tensor) -> Tensor:
        return F.linear(keys, self.dense1.weight[:, : self.key_dim], self.dense1.bias)  # (B, T, hidden)

    def score(self, query: Tensor, projected: Tensor) -> Tensor:
        s = F.linear(query, self.dense1.weight[:, self.key_dim:])  # (B, hidden)
        e = torch.tanh(projected + s.unsqueeze(1))  # (B, T, hidden)
        return F.relu(self.dense2(e)).squeeze(-1)  # (B, T)


class BahdanauAttention(Attention):
    """Additive attention e = v . tanh(W s + U a)."""

    def __init__(self, query_dim: int, key_dim: int, hidden: int = 64) -> None:
        super().__init__(query_dim, key_dim)
        self.W = nn.Linear(query_dim, hidden, bias=False)
        self.U = nn.Linear(key_dim, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U(keys)  # (B, T, hidden)

    def score(self, query: Tensor, projected: Tensor) -> Tensor:
        e = torch.tanh(self.W(query).unsqueeze(1) + projected)  # (B, T, hidden)
        return self.v(e).squeeze(-1)  # (B, T)


class LuongAttention(Attention):
    """Multiplicative attention: 'dot' e = s . a (needs Hq == Hk), 'general' e = s . W a."""

    def __init__(self, query_dim: int, key_dim: int, kind: str = "general") -> None:
        super().__init__(query_dim, key_dim)
        if kind not in ("dot", "general"):
            raise ValueError(f"unknown Luong score {kind!r}; expected 'dot' or 'general'")
        if kind == "dot" and query_dim != key_dim:
            raise ValueError(f"Luong 'dot' needs query dim == key dim, got {query_dim} and {key_dim}")
        self.kind = kind
        self.W = nn.Linear(key_dim, query_dim, bias=False) if kind == "general" else nn.Identity()

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W(keys)  # (B, T, Hq)

    def score(self, query: Tensor, projected: Tensor) -> Tensor:
        return torch.bmm(projected, query.unsqueeze(-1)).squeeze(-1)  # (B, T, Hq) @ (B, Hq, 1) -> (B, T)


ATTENTIONS = ("course", "bahdanau", "luong_dot", "luong_general")


def build_attention(name: str, query_dim: int, key_dim: int, hidden: int | None = None) -> Attention:
    """Attention by name: one of ``ATTENTIONS``. ``hidden`` sizes the course's and Bahdanau's dense layer."""
    if name == "course":
        return CourseAttention(query_dim, key_dim, hidden or 10)
    if name == "bahdanau":
        return BahdanauAttention(query_dim, key_dim, hidden or 64)
    if name in ("luong_dot", "luong_general"):
        return LuongAttention(query_dim, key_dim, name.removeprefix("luong_"))
    raise ValueError(f"unknown attention {name!r}; expected one of {ATTENTIONS}")
