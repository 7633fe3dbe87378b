"""Encoder-decoder with attention (course 5 week 3; Bahdanau, Cho, Bengio 2015; Sutskever et al. 2014).

    encoder:  a<1..Tx> = BiRNN(x<1..Tx>)                              (to each length: padding is never read)
    decoder:  context<t> = Attention(s<t-1>, a<1..Tx>)                (padding masked, dlzoo.models.attention)
              s<t> = Cell([y<t-1>; context<t>], s<t-1>)               (y<t-1> only when feed_previous)
              P(y<t> | y<t-1..1>, x) = softmax(W s<t> + b)

The course's date model (``COURSE_DATE_MODEL``, ``course_date_model``) is this network with a Bi-LSTM over
one-hot characters (n_a = 32), an LSTM cell (n_s = 64) whose input is the context alone (the course does not
feed the previous output back, ``feed_previous=False``), zero initial states and the course's Dense(10, tanh)
-> Dense(1, relu) attention. Its outputs are conditionally independent given x, so greedy decoding is already
exact for it; ``feed_previous=True`` makes the decoder autoregressive, which beam search needs to matter.

Without attention the decoder sees the source only through its initial state: ``init_state='bridge'`` sets
s<0> = tanh(W a_final) from the encoder's last states (Bahdanau's s0, appendix A.2.2; c<0> of an LSTM is 0).

Sequences: targets are framed <bos> y1 .. yn <eos> and right-padded with <pad>; the decoder reads
``tgt[:, :-1]`` and is scored on ``tgt[:, 1:]`` with the padding ignored (``sequence_loss``). Teacher forcing
feeds the true y<t-1> with probability ``teacher_forcing_ratio`` per sentence and step, the model's own argmax
otherwise (Williams and Zipser 1989; Bengio et al. 2015 for ratios below 1).

Step API for decoding (dlzoo.ops.beam_search): ``encode``, ``init_state``, ``decode_step``, ``reorder_state``,
``reorder_memory``. ``forward`` runs the same ``decode_step`` code, so training and decoding cannot disagree.

The encoder is any module with ``output_size`` and ``forward(src (B, S), lengths (B,)) -> (outputs (B, S, He),
final (B, He))`` with zeros at padded outputs; ``RNNEncoder`` is dlzoo's own ``RecurrentLayer``
(dlzoo.models.rnn), ``encoder_impl="torch"`` (nn.GRU / nn.LSTM over a packed sequence, the default for speed) or
``"scratch"`` (the course's cells, masked past each length); both give the same numbers on the same weights.
The decoder cell is torch's nn.LSTMCell / nn.GRUCell.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlzoo.models.attention import Attention, build_attention
from dlzoo.models.rnn import RecurrentLayer

State = Union[Tensor, tuple[Tensor, Tensor]]  # GRU: s (N, H); LSTM: (s, c), each (N, H)
CELLS = ("gru", "lstm")


def _check_tokens(src: Tensor, lengths: Tensor) -> None:
    if src.dim() != 2 or lengths.shape != (src.shape[0],):
        raise ValueError(f"expected src (B, S) and lengths (B,), got {tuple(src.shape)} and {tuple(lengths.shape)}")
    if src.dtype != torch.long:
        raise ValueError(f"src must hold token ids (int64), got {src.dtype}")
    if src.shape[0] and (int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]):
        raise ValueError(
            f"lengths must lie in [1, {src.shape[1]}], got min {int(lengths.min())} max {int(lengths.max())}"
        )


class RNNEncoder(nn.Module):
    """Token ids -> embedding (or one-hot, the course's input) -> ``RecurrentLayer`` (deep, optionally
    bidirectional), which reads each sequence only up to its length; ``final`` joins the last layer's forward
    state at the last real token and backward state at the first (the LSTM's a, not its memory cell c)."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        bidirectional: bool = True,
        num_layers: int = 1,
        embed_dim: int | None = None,
        pad_id: int = 0,
        dropout: float = 0.0,
        impl: str = "torch",
    ) -> None:
        super().__init__()
        self.vocab_size, self.cell = vocab_size, cell
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id) if embed_dim else None
        self.rnn = RecurrentLayer(cell, embed_dim or vocab_size, hidden_size, num_layers, bidirectional=bidirectional,
                                  dropout=dropout, impl=impl)
        self.num_directions = self.rnn.num_directions
        self.output_size = hidden_size * self.num_directions

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        _check_tokens(src, lengths)
        if self.embed is not None:
            x = self.embed(src)  # (B, S, E)
        else:
            x = F.one_hot(src, self.vocab_size).to(next(self.rnn.parameters()).dtype)  # (B, S, V)
        outputs, h = self.rnn(x, lengths)  # (B, S, He), 0 on pad; h: (layers * dirs, B, H) in the input order
        if isinstance(h, tuple):
            h = h[0]  # the LSTM's (a, c): a
        final = torch.cat(list(h[-self.num_directions:]), dim=-1)  # (B, He): last layer, forward and backward
        return outputs, final


class Memory(NamedTuple):
    """What the decoder reads at every step."""

    outputs: Tensor  # (B, S, He) encoder states a<t'>
    mask: Tensor  # (B, S) True on real source positions
    final: Tensor  # (B, He) encoder summary, for init_state='bridge'
    projected: Tensor | None  # (B, S, P) attention's query-independent part of the scores, None without attention


class Seq2Seq(nn.Module):
    """Encoder + GRU/LSTM decoder cell with optional attention; see the module docstring."""

    def __init__(
        self,
        encoder: nn.Module,
        tgt_vocab_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        attention: Attention | None = None,
        feed_previous: bool = True,
        tgt_embed_dim: int | None = None,
        init_state: str = "zeros",
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown decoder cell {cell!r}; expected one of {CELLS}")
        if init_state not in ("zeros", "bridge"):
            raise ValueError(f"unknown init_state {init_state!r}; expected 'zeros' or 'bridge'")
        if attention is None and init_state == "zeros":
            raise ValueError("without attention the decoder needs init_state='bridge', else it never sees the source")
        if attention is None and not feed_previous:
            raise ValueError("a decoder with neither attention nor feed_previous has no input at any step")
        if attention is not None and (attention.query_dim, attention.key_dim) != (hidden_size, encoder.output_size):
            raise ValueError(
                f"attention expects query/key dims ({attention.query_dim}, {attention.key_dim}), the decoder and "
                f"encoder give ({hidden_size}, {encoder.output_size})"
            )
        self.encoder, self.attention = encoder, attention
        self.cell_type, self.hidden_size, self.vocab_size = cell, hidden_size, tgt_vocab_size
        self.feed_previous, self.init_kind, self.pad_id = feed_previous, init_state, pad_id
        self.embed = None
        token_dim = 0
        if feed_previous:
            self.embed = nn.Embedding(tgt_vocab_size, tgt_embed_dim, padding_idx=pad_id) if tgt_embed_dim else None
            token_dim = tgt_embed_dim or tgt_vocab_size  # one-hot when no embedding
        input_size = token_dim + (encoder.output_size if attention is not None else 0)
        self.cell = (nn.LSTMCell if cell == "lstm" else nn.GRUCell)(input_size, hidden_size)
        self.bridge = nn.Linear(encoder.output_size, hidden_size) if init_state == "bridge" else None
        self.out = nn.Linear(hidden_size, tgt_vocab_size)

    # ---- step API -------------------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor) -> Memory:
        outputs, final = self.encoder(src, src_lengths)  # (B, S, He), (B, He)
        mask = torch.arange(src.shape[1], device=src.device) < src_lengths.to(src.device)[:, None]  # (B, S)
        projected = self.attention.project_keys(outputs) if self.attention is not None else None
        return Memory(outputs, mask, final, projected)

    def init_state(self, memory: Memory) -> State:
        n = memory.final.shape[0]
        zeros = memory.final.new_zeros(n, self.hidden_size)  # (N, H)
        s = torch.tanh(self.bridge(memory.final)) if self.bridge is not None else zeros
        return (s, zeros) if self.cell_type == "lstm" else s

    def decode_step(self, prev_tokens: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor | None]:
        """One decoder step: (log P(y<t>) (N, V), s<t>, attention weights (N, S) or None)."""
        logits, state, weights = self._step(prev_tokens, state, memory)
        return logits.log_softmax(dim=-1), state, weights

    @staticmethod
    def reorder_state(state: State, index: Tensor) -> State:
        """Rows of the decoder state picked by ``index`` (N',): beam search's survivors."""
        if isinstance(state, tuple):
            return tuple(s.index_select(0, index) for s in state)
        return state.index_select(0, index)

    @staticmethod
    def reorder_memory(memory: Memory, index: Tensor) -> Memory:
        """Rows of the memory picked by ``index``: beam search repeats each sentence once per beam."""
        return Memory(*(m.index_select(0, index) if m is not None else None for m in memory))

    # ---- training --------------------------------------------------------------------------------------------
    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, teacher_forcing_ratio: float = 1.0
    ) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) for every step of ``tgt_in`` (B, T) = <bos> y1 .. (the target without its last
        column), and the attention weights (B, T, S) (None without attention)."""
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"tgt_in must be (B, T) with B = {src.shape[0]}, got {tuple(tgt_in.shape)}")
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must lie in [0, 1], got {teacher_forcing_ratio}")
        memory = self.encode(src, src_lengths)
        state = self.init_state(memory)
        prev = tgt_in[:, 0]  # (B,) <bos>
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, w = self._step(prev, state, memory)  # (B, V)
            logits.append(step_logits)
            weights.append(w)
            if t + 1 < tgt_in.shape[1]:
                prev = tgt_in[:, t + 1]
                if teacher_forcing_ratio < 1.0:
                    own = torch.rand(prev.shape, device=prev.device) >= teacher_forcing_ratio  # (B,)
                    prev = torch.where(own, step_logits.argmax(dim=-1), prev)
        attn = torch.stack(weights, dim=1) if self.attention is not None else None  # (B, T, S)
        return torch.stack(logits, dim=1), attn  # (B, T, V)

    def _step(self, prev_tokens: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor | None]:
        s_prev = state[0] if isinstance(state, tuple) else state  # (N, H) s<t-1>
        inputs, weights = [], None
        if self.feed_previous:
            if self.embed is not None:
                inputs.append(self.embed(prev_tokens))  # (N, E)
            else:
                inputs.append(F.one_hot(prev_tokens, self.vocab_size).to(s_prev.dtype))  # (N, V)
        if self.attention is not None:
            context, weights = self.attention(s_prev, memory.outputs, memory.mask, memory.projected)  # (N, He), (N, S)
            inputs.append(context)
        state = self.cell(torch.cat(inputs, dim=-1), state)
        s = state[0] if isinstance(state, tuple) else state  # (N, H) s<t>
        return self.out(s), state, weights  # (N, V)


def sequence_loss(logits: Tensor, tgt_out: Tensor, pad_id: int) -> Tensor:
    """Mean cross-entropy over the non-pad target tokens (B, T); padded steps contribute nothing."""
    if logits.shape[:2] != tgt_out.shape:
        raise ValueError(
            f"logits (B, T, V) and targets (B, T) disagree: {tuple(logits.shape)} vs {tuple(tgt_out.shape)}"
        )
    return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=pad_id)


# The course's date model (course 5 week 3): architecture as data.
COURSE_DATE_MODEL = dict(
    encoder_hidden=32,  # n_a, per direction of the pre-attention Bi-LSTM
    decoder_hidden=64,  # n_s, the post-attention LSTM
    cell="lstm",
    bidirectional=True,
    src_embed_dim=None,  # one-hot characters, as the course's Xoh
    tgt_embed_dim=None,
    attention="course",
    attention_hidden=10,  # densor1 = Dense(10, activation="tanh")
    feed_previous=False,  # the course's decoder input is the context alone
    init_state="zeros",  # s0 = c0 = zeros((m, n_s))
)


def build_seq2seq(
    src_vocab_size: int,
    tgt_vocab_size: int,
    *,
    encoder_hidden: int = 32,
    decoder_hidden: int = 64,
    cell: str = "lstm",
    bidirectional: bool = True,
    encoder_layers: int = 1,
    encoder_impl: str = "torch",
    src_embed_dim: int | None = None,
    tgt_embed_dim: int | None = None,
    attention: str | None = "course",
    attention_hidden: int | None = None,
    feed_previous: bool = True,
    init_state: str = "zeros",
    pad_id: int = 0,
) -> Seq2Seq:
    """A Seq2Seq from plain values (what a config holds); ``attention=None`` is the no-attention baseline.
    ``encoder_impl``: "torch" or "scratch", the encoder's ``RecurrentLayer`` implementation."""
    encoder = RNNEncoder(src_vocab_size, encoder_hidden, cell=cell, bidirectional=bidirectional,
                         num_layers=encoder_layers, embed_dim=src_embed_dim, pad_id=pad_id, impl=encoder_impl)
    attn = None
    if attention is not None:
        attn = build_attention(attention, decoder_hidden, encoder.output_size, attention_hidden)
    return Seq2Seq(encoder, tgt_vocab_size, decoder_hidden, cell=cell, attention=attn, feed_previous=feed_previous,
                   tgt_embed_dim=tgt_embed_dim, init_state=init_state, pad_id=pad_id)


def course_date_model(src_vocab_size: int, tgt_vocab_size: int, *, pad_id: int = 0, **overrides) -> Seq2Seq:
    """The course's date model (``COURSE_DATE_MODEL``); ``overrides`` change single entries, e.g.
    ``feed_previous=True`` for an autoregressive decoder."""
    unknown = set(overrides) - set(COURSE_DATE_MODEL)
    if unknown:
        raise ValueError(
            f"unknown course_date_model options {sorted(unknown)}; expected some of {sorted(COURSE_DATE_MODEL)}"
        )
    return build_seq2seq(src_vocab_size, tgt_vocab_size, pad_id=pad_id, **{**COURSE_DATE_MODEL, **overrides})
