"""Recurrent language model: tokens -> (one-hot or embedding) -> RecurrentLayer -> linear over the vocabulary.

Deep Learning Specialization, Course 5 week 1 ("Language model and sequence generation", "Sampling novel
sequences", the dinosaur-names assignment). The model reads y<0..t-1> and outputs
P(y<t> | y<0..t-1>) = softmax(W_y a<t> + b_y); trained with teacher forcing (the true previous token is the
next input), it generates by feeding its own samples back one step at a time (`step`, `generate`).

- Inputs: `embed_dim=None` feeds one-hot vectors, as the course's x<t> (then W_ax is the embedding); an integer
  uses an `nn.Embedding` of that width (the usual choice for large vocabularies).
- `init="course"`: every weight matrix ~ N(0, 0.01^2) and biases 0, the assignment's `initialize_parameters`
  (randn * 0.01); `"default"` keeps the layers' own initialisation (U(-1/sqrt(H), 1/sqrt(H)) for the cells).
- Sampling: logits / temperature, optionally restricted to the `top_k` most likely tokens, then a draw from the
  softmax; temperature 0 is greedy argmax. Deviation from the course: the course feeds a zero vector x<1> = 0
  to start a name and stops at "\\n"; here the sequence starts with the <bos> token and ends with <eos>.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlzoo.models.rnn import RecurrentLayer

State = Tensor | tuple[Tensor, Tensor]  # (L, B, H), or the LSTM's pair (a, c)


class LanguageModel(nn.Module):
    """forward(tokens (B, T), lengths (B,) | None, state | None) -> (logits (B, T, V), final state).

    Args:
        vocab_size: V, the rows of the input and output layers.
        cell: "rnn" | "gru" | "gru_simple" | "lstm" (see `dlzoo.models.rnn.RecurrentLayer`).
        hidden_size: n_a.
        num_layers: stacked recurrent layers (deep RNN).
        embed_dim: width of the token embedding; None feeds one-hot vectors.
        dropout: on the embedding, between layers and before the output layer (training only).
        impl: "scratch" (the course's cells) or "torch" (nn.RNN/GRU/LSTM, cuDNN on GPU).
        init: "default" or "course" (N(0, 0.01^2) weights, zero biases).
    """

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 1,
        embed_dim: int | None = None,
        dropout: float = 0.0,
        impl: str = "scratch",
        init: str = "default",
        peephole: bool = False,
    ) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
        if init not in ("default", "course"):
            raise ValueError(f"unknown init {init!r}; expected 'default' or 'course'")
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.embedding = nn.Embedding(vocab_size, embed_dim) if embed_dim is not None else None
        self.dropout = nn.Dropout(dropout)
        self.rnn = RecurrentLayer(
            cell, embed_dim or vocab_size, hidden_size, num_layers, dropout=dropout, impl=impl, peephole=peephole
        )
        self.head = nn.Linear(hidden_size, vocab_size)  # W_y, b_y
        if init == "course":
            for p in self.parameters():
                nn.init.normal_(p, std=0.01) if p.dim() > 1 else nn.init.zeros_(p)

    def inputs(self, tokens: Tensor) -> Tensor:
        """(B, T) token ids -> (B, T, D): embeddings, or one-hot vectors in the parameters' dtype."""
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ValueError(f"tokens must be an integer tensor (B, T), got {tokens.dtype} {tuple(tokens.shape)}")
        if self.embedding is not None:
            return self.dropout(self.embedding(tokens))  # (B, T, E)
        return F.one_hot(tokens, self.vocab_size).to(self.head.weight.dtype)  # (B, T, V)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        out, state = self.rnn(self.inputs(tokens), lengths, state)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def step(self, token: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One generation step: token (B,) and the previous state -> (logits (B, V), next state)."""
        logits, state = self(token[:, None], None, state)  # (B, 1, V)
        return logits[:, 0], state


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row of logits (B, V): softmax(logits / temperature) over the `top_k` most likely.

    temperature 0 returns the argmax (greedy); temperatures -> 0 approach it, large ones approach uniform.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and not 1 <= top_k:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    if temperature == 0:
        return logits.argmax(-1)  # (B,)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1) the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)


@torch.no_grad()
def generate(
    model: LanguageModel,
    prompt: list[int],
    n: int,
    max_len: int,
    eos_index: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """`n` continuations of `prompt` (token ids, at least one), each up to `max_len` new tokens and stopping
    after <eos> (which is kept). The n samples run as one batch; the prompt is read in one forward pass."""
    if not prompt:
        raise ValueError("the prompt needs at least one token (the <bos> token for a fresh sequence)")
    if n < 1 or max_len < 1:
        raise ValueError(f"n and max_len must be >= 1, got n={n}, max_len={max_len}")
    device = model.head.weight.device
    tokens = torch.tensor([prompt] * n, device=device)  # (n, P)
    logits, state = model(tokens)  # (n, P, V)
    logits = logits[:, -1]  # (n, V)
    out = torch.empty(n, 0, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_len):
        token = sample_next(logits, temperature, top_k, generator)  # (n,)
        out = torch.cat([out, token[:, None]], dim=1)  # (n, t)
        done |= token == eos_index
        if bool(done.all()):
            break
        logits, state = model.step(token, state)
    rows = out.tolist()
    return [row[: row.index(eos_index) + 1] if eos_index in row else row for row in rows]
