"""Greedy decoding and batched beam search over a step-wise decoder (course 5 week 3, "Beam search" and
"Refinements to beam search").

The model is anything with the step API of ``dlzoo.models.seq2seq.Seq2Seq``:

    memory = model.encode(src, src_lengths)                       # per sentence
    state = model.init_state(memory)
    log_probs, state, attn = model.decode_step(prev_tokens, state, memory)   # (N, V), N rows decoded at once
    state = model.reorder_state(state, index);  memory = model.reorder_memory(memory, index)

Beam search keeps ``beam_size`` hypotheses per sentence. All B sentences x K beams go through one
``decode_step`` per step (N = B K rows); after scoring the K V extensions of each sentence, the best K survive
and the decoder state is gathered with ``reorder_state``. A hypothesis that has produced <eos> is frozen: its
only extension is <pad> at log-probability 0, so it keeps its tokens, score and length while it competes with
the live ones. Hypotheses are ranked, both when pruning and at the end, by the course's normalized
log-likelihood

    score(y) = 1 / T^alpha * sum_{t=1..T} log P(y<t> | x, y<1..t-1>)

where T counts the generated tokens including <eos> (alpha = 0: plain log-likelihood; alpha = 1: mean; the
course suggests 0.7). A hypothesis still open at ``max_len`` ends there without <eos>.

<pad> and <bos> are never generated: their log-probabilities are set to -inf (not renormalized), in greedy
decoding too, so both decoders search the same space as an exhaustive search over sequences of the other
tokens.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class GreedyResult(NamedTuple):
    tokens: Tensor  # (B, L) generated ids, <eos> included when produced, <pad> after it
    lengths: Tensor  # (B,) generated tokens, <eos> included
    log_probs: Tensor  # (B,) sum of log P of the generated tokens
    attention: Tensor | None  # (B, L, S) attention weights of each step (meaningless after <eos>); None without


class BeamResult(NamedTuple):
    tokens: Tensor  # (B, n_best, L) best first, <pad> after <eos>
    lengths: Tensor  # (B, n_best) generated tokens, <eos> included
    scores: Tensor  # (B, n_best) normalized log-likelihood, sorted descending
    log_probs: Tensor  # (B, n_best) unnormalized sum of log P


def _check_ids(bos_id: int, eos_id: int, pad_id: int, max_len: int) -> None:
    if len({bos_id, eos_id, pad_id}) != 3:
        raise ValueError(f"bos_id, eos_id and pad_id must differ, got {bos_id}, {eos_id}, {pad_id}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")


def _forbid(log_probs: Tensor, bos_id: int, pad_id: int) -> Tensor:
    """<bos> and <pad> are not outputs."""
    log_probs = log_probs.clone()
    log_probs[:, [bos_id, pad_id]] = float("-inf")
    return log_probs


@torch.no_grad()
def greedy_decode(
    model: nn.Module, src: Tensor, src_lengths: Tensor, *, max_len: int, bos_id: int, eos_id: int, pad_id: int
) -> GreedyResult:
    """The most likely token at every step, until <eos> or ``max_len`` tokens."""
    _check_ids(bos_id, eos_id, pad_id, max_len)
    memory = model.encode(src, src_lengths)
    state = model.init_state(memory)
    B = src.shape[0]
    prev = torch.full((B,), bos_id, dtype=torch.long, device=src.device)  # (B,)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    total = torch.zeros(B, device=src.device)  # promoted to the model's dtype if wider
    tokens, weights = [], []
    for _ in range(max_len):
        log_probs, state, attn = model.decode_step(prev, state, memory)  # (B, V)
        best, tok = _forbid(log_probs, bos_id, pad_id).max(dim=-1)  # (B,), (B,)
        tok = tok.masked_fill(finished, pad_id)
        total = total + best.masked_fill(finished, 0.0)
        tokens.append(tok)
        weights.append(attn)
        finished = finished | (tok == eos_id)
        prev = tok
        if bool(finished.all()):
            break
    tokens_t = torch.stack(tokens, dim=1)  # (B, L)
    lengths = (tokens_t != pad_id).sum(dim=1)  # (B,)
    attention = torch.stack(weights, dim=1) if weights[0] is not None else None  # (B, L, S)
    return GreedyResult(tokens_t, lengths, total, attention)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    src: Tensor,
    src_lengths: Tensor,
    *,
    beam_size: int,
    max_len: int,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    alpha: float = 0.7,
    n_best: int = 1,
) -> BeamResult:
    """Batched beam search; returns the ``n_best`` hypotheses of each sentence with their scores."""
    _check_ids(bos_id, eos_id, pad_id, max_len)
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"need 1 <= n_best <= beam_size, got n_best={n_best}, beam_size={beam_size}")
    B, K, device = src.shape[0], beam_size, src.device
    memory = model.encode(src, src_lengths)
    memory = model.reorder_memory(memory, torch.arange(B, device=device).repeat_interleave(K))  # (B K, ...)
    state = model.init_state(memory)

    # Only beam 0 of each sentence is live at the start, so the K first extensions are distinct.
    sums = torch.full((B, K), float("-inf"), device=device)  # (B, K) sum of log P, promoted to the model's dtype
    sums[:, 0] = 0.0
    lengths = torch.zeros(B, K, dtype=torch.long, device=device)  # (B, K)
    finished = torch.zeros(B, K, dtype=torch.bool, device=device)  # (B, K)
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)  # (B K, t)
    prev = torch.full((B * K,), bos_id, dtype=torch.long, device=device)  # (B K,)
    offsets = (torch.arange(B, device=device) * K)[:, None]  # (B, 1) row of each sentence's beam 0

    for _ in range(max_len):
        log_probs, state, _ = model.decode_step(prev, state, memory)  # (B K, V)
        V = log_probs.shape[-1]
        log_probs = _forbid(log_probs, bos_id, pad_id)
        frozen = finished.view(-1)  # (B K,)
        log_probs[frozen] = float("-inf")
        log_probs[frozen, pad_id] = 0.0  # a finished hypothesis only "extends" with <pad>, for free
        cand_sums = (sums.view(-1, 1) + log_probs).view(B, K * V)  # (B, K V)
        cand_lengths = (lengths + (~finished).long()).repeat_interleave(V, dim=1)  # (B, K V)
        cand_scores = cand_sums / cand_lengths.to(cand_sums.dtype) ** alpha  # (B, K V)
        _, top = cand_scores.topk(K, dim=1)  # (B, K)
        beam, tok = top // V, top % V  # (B, K) source beam, new token
        sums, lengths = cand_sums.gather(1, top), cand_lengths.gather(1, top)
        finished = finished.gather(1, beam) | (tok == eos_id)
        rows = (offsets + beam).view(-1)  # (B K,) survivors' rows
        state = model.reorder_state(state, rows)
        history = torch.cat([history[rows], tok.view(-1, 1)], dim=1)  # (B K, t + 1)
        prev = tok.view(-1)
        if bool(finished.all()):
            break

    scores = sums / lengths.to(sums.dtype) ** alpha  # (B, K)
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    order = order[:, :n_best]  # (B, n)
    tokens = history.view(B, K, -1).gather(1, order[..., None].expand(-1, -1, history.shape[1]))  # (B, n, L)
    return BeamResult(tokens, lengths.gather(1, order), scores[:, :n_best], sums.gather(1, order))
