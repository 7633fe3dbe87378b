"""Recurrent layers written from the course's equations: vanilla RNN, GRU (simplified and full), LSTM.

Deep Learning Specialization, Course 5 week 1 (notation of the lectures: x<t> input, a<t> activation,
c<t> memory cell, Gamma gates, * elementwise). The course writes W_a[a<t-1>, x<t>] for W_aa a<t-1> + W_ax x<t>;
every cell here keeps the two blocks apart, `weight_a` (G*H, H) and `weight_x` (G*H, D), the G gate blocks
stacked by rows, so the input half is one matmul for all time steps and each step costs one matmul.

- Vanilla RNN:     a<t> = tanh(W_a[a<t-1>, x<t>] + b_a); optional readout y_hat<t> = softmax(W_y a<t> + b_y).
- Simplified GRU:  c~ = tanh(W_c[c<t-1>, x<t>] + b_c), Gu = sigmoid(W_u[c<t-1>, x<t>] + b_u),
                   c<t> = Gu * c~ + (1 - Gu) * c<t-1>, a<t> = c<t>.
- Full GRU (Cho et al. 2014, arXiv:1406.1078): adds the relevance gate Gr = sigmoid(W_r[c<t-1>, x<t>] + b_r).
  The course applies it before the matmul, c~ = tanh(W_c[Gr * c<t-1>, x<t>] + b_c) (`reset_after=False`).
  cuDNN and torch.nn.GRU apply it after: c~ = tanh(W_cx x<t> + b_c + Gr * (W_cc c<t-1> + b_cc)), which needs
  the extra bias b_cc (`recurrent_bias`) and lets one matmul per step cover all three blocks. That is the
  default (`reset_after=True`, Keras's name for the same switch), so the GRU can run on either implementation.
- LSTM (Hochreiter & Schmidhuber 1997): c~ = tanh(W_c[a<t-1>, x<t>] + b_c), Gu, Gf, Go = sigmoid(W_.[...] + b_.),
  c<t> = Gu * c~ + Gf * c<t-1>, a<t> = Go * tanh(c<t>). Peephole connections (Gers & Schmidhuber 2000,
  `peephole=True`) add p_u * c<t-1> and p_f * c<t-1> to the update and forget pre-activations and p_o * c<t>
  to the output one; p are vectors, as in the lecture where element k of c only affects element k of a gate.

`RecurrentLayer` stacks cells into `num_layers` layers (dropout between them), optionally bidirectional,
and takes padded batches with their lengths. `impl="torch"` runs nn.RNN/GRU/LSTM instead (cuDNN on GPU,
packed sequences when lengths are given); `copy_weights` moves weights between the two implementations:

  cell  | scratch rows of weight_x / weight_a / bias | torch rows (weight_ih, weight_hh, bias_ih + bias_hh)
  rnn   | a                                          | h
  lstm  | Gu, Gf, c~, Go                             | i, f, g, o          (same order, same signs)
  gru   | Gr, Gu, c~                                 | r, z, n             torch's z is the course's 1 - Gu: it
        |                                            | keeps the old state, h' = (1 - z) * n + z * h, so the Gu
        |                                            | rows are -1 times the z rows; recurrent_bias is b_hn

Deviations from the course, named: one bias per gate where torch has two (b_ih + b_hh, whose sum is all that
matters except in the GRU candidate); weights start U(-1/sqrt(H), 1/sqrt(H)) as in torch, not randn * 0.01,
so both implementations train alike; the course's Python loops over examples become batched matmuls.

Speed (scripts/bench_rnn.py, hidden 256, sequence 100, batch 32, CPU): per step the scratch path runs one
matmul and a handful of elementwise ops; with 1 thread (CPU time) it trains at 0.9-1.2x the time of
nn.RNN/GRU/LSTM and generates step by step as fast. torch.compile of the step function made training slower
(the per-call overhead of a compiled function outweighs the fused elementwise kernels) after a minute of
compiling, so it is not used.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

State = tuple[Tensor, ...]  # (a,) for rnn and gru cells, (a, c) for the LSTM; each (B, H)


class _Cell(nn.Module):
    """Parameters shared by all cells: `weight_x` (G*H, D), `weight_a` (G*H, H), `bias` (G*H,)."""

    n_gates = 1  # G, blocks stacked in weight_x / weight_a / bias
    n_states = 1  # 1 for (a,), 2 for (a, c)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_x = nn.Parameter(torch.empty(self.n_gates * hidden_size, input_size))
        self.weight_a = nn.Parameter(torch.empty(self.n_gates * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(self.n_gates * hidden_size))

    def reset_parameters(self) -> None:
        k = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -k, k)

    def project(self, x: Tensor) -> Tensor:
        """The input half W_.x x + b_. of every gate, for any number of leading dims: (..., D) -> (..., G*H)."""
        return F.linear(x, self.weight_x, self.bias)

    def step(self, xp: Tensor, state: State) -> State:
        """One time step from the projected input `xp` (B, G*H) and the previous state."""
        raise NotImplementedError

    def initial_state(self, batch: int, like: Tensor) -> State:
        return tuple(like.new_zeros(batch, self.hidden_size) for _ in range(self.n_states))

    def forward(self, x: Tensor, state: Tensor | State | None = None) -> Tensor | State:
        """One time step on x (B, D): returns a<t> (B, H), or (a<t>, c<t>) for the LSTM, like torch's cells."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects x of shape (B, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0], x)
        state = self.step(self.project(x), (state,) if isinstance(state, Tensor) else tuple(state))
        return state[0] if self.n_states == 1 else state

    # torch.nn.RNN/GRU/LSTM layout, see the module docstring; overridden where it differs.
    def torch_params(self) -> dict[str, Tensor]:
        return {
            "weight_ih": self.weight_x.detach().clone(),
            "weight_hh": self.weight_a.detach().clone(),
            "bias_ih": self.bias.detach().clone(),
            "bias_hh": torch.zeros_like(self.bias.detach()),
        }

    @torch.no_grad()
    def load_torch_params(self, p: dict[str, Tensor]) -> None:
        self.weight_x.copy_(p["weight_ih"])
        self.weight_a.copy_(p["weight_hh"])
        self.bias.copy_(p["bias_ih"] + p["bias_hh"])


class RNNCell(_Cell):
    """a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a); with `output_size`, `predict` gives softmax(W_y a + b_y)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None) -> None:
        super().__init__(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size) if output_size is not None else None  # W_y, b_y
        self.reset_parameters()

    def step(self, xp: Tensor, state: State) -> State:
        (a,) = state
        return (torch.tanh(torch.addmm(xp, a, self.weight_a.t())),)  # (B, H)

    def predict(self, a: Tensor) -> Tensor:
        """y_hat = softmax(W_y a + b_y): (B, H) -> (B, output_size) probabilities."""
        if self.readout is None:
            raise ValueError("RNNCell was built without output_size, so it has no readout W_y, b_y")
        return torch.softmax(self.readout(a), dim=-1)

    @classmethod
    def from_course(cls, parameters: dict[str, np.ndarray]) -> RNNCell:
        """Build from the course's numpy dict: Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1), optional Wya, by."""
        missing = {"Wax", "Waa", "ba"} - set(parameters)
        if missing:
            raise ValueError(f"course RNN parameters lack {sorted(missing)}")
        n_a, n_x = parameters["Wax"].shape
        out = parameters["Wya"].shape[0] if "Wya" in parameters else None
        cell = cls(n_x, n_a, out).double()
        t = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in parameters.items()}
        with torch.no_grad():
            cell.weight_x.copy_(t["Wax"])
            cell.weight_a.copy_(t["Waa"])
            cell.bias.copy_(t["ba"].reshape(n_a))
            if cell.readout is not None:
                cell.readout.weight.copy_(t["Wya"])
                cell.readout.bias.copy_(t["by"].reshape(out))
        return cell


class SimpleGRUCell(_Cell):
    """The course's simplified GRU, update gate only; rows of the weights: [Gu, c~]."""

    n_gates = 2

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.reset_parameters()

    def step(self, xp: Tensor, state: State) -> State:
        (c,) = state
        u, cand = torch.addmm(xp, c, self.weight_a.t()).chunk(2, dim=1)  # (B, H) each
        # c<t> = Gu * c~ + (1 - Gu) * c<t-1>, as one lerp
        return (torch.lerp(c, torch.tanh(cand), torch.sigmoid(u)),)

    def torch_params(self) -> dict[str, Tensor]:
        raise ValueError("the simplified GRU has no torch.nn counterpart; it runs with impl='scratch' only")

    def load_torch_params(self, p: dict[str, Tensor]) -> None:
        raise ValueError("the simplified GRU has no torch.nn counterpart; it runs with impl='scratch' only")


class GRUCell(_Cell):
    """Full GRU, rows [Gr, Gu, c~]; `reset_after` picks torch's (True) or the course's (False) candidate."""

    n_gates = 3

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.reset_after = reset_after
        self.recurrent_bias = nn.Parameter(torch.empty(hidden_size)) if reset_after else None  # b_cc
        self.reset_parameters()

    def step(self, xp: Tensor, state: State) -> State:
        (c,) = state
        H = self.hidden_size
        if self.reset_after:
            ca = c @ self.weight_a.t()  # (B, 3H): W_ra c, W_ua c, W_cc c
            r, u = torch.sigmoid(xp[:, : 2 * H] + ca[:, : 2 * H]).chunk(2, dim=1)  # (B, H) each
            cand = torch.tanh(xp[:, 2 * H :] + r * (ca[:, 2 * H :] + self.recurrent_bias))
        else:
            r, u = torch.sigmoid(torch.addmm(xp[:, : 2 * H], c, self.weight_a[: 2 * H].t())).chunk(2, dim=1)
            cand = torch.tanh(torch.addmm(xp[:, 2 * H :], r * c, self.weight_a[2 * H :].t()))
        return (torch.lerp(c, cand, u),)  # Gu * c~ + (1 - Gu) * c<t-1>

    def _signs(self) -> Tensor:
        """+1 on the Gr and c~ rows, -1 on the Gu rows: torch's z = 1 - Gu = sigmoid(-pre-activation)."""
        s = torch.ones(3, self.hidden_size, dtype=self.weight_x.dtype, device=self.weight_x.device)
        s[1] = -1
        return s.reshape(-1)

    def torch_params(self) -> dict[str, Tensor]:
        if not self.reset_after:
            raise ValueError("torch.nn.GRU applies the relevance gate after the matmul; use reset_after=True")
        s = self._signs()
        b_hh = torch.cat([torch.zeros_like(self.bias[: 2 * self.hidden_size]), self.recurrent_bias]).detach()
        return {
            "weight_ih": (self.weight_x * s[:, None]).detach(),
            "weight_hh": (self.weight_a * s[:, None]).detach(),
            "bias_ih": (self.bias * s).detach(),
            "bias_hh": b_hh,
        }

    @torch.no_grad()
    def load_torch_params(self, p: dict[str, Tensor]) -> None:
        if not self.reset_after:
            raise ValueError("torch.nn.GRU applies the relevance gate after the matmul; use reset_after=True")
        H, s = self.hidden_size, self._signs()
        self.weight_x.copy_(p["weight_ih"] * s[:, None])
        self.weight_a.copy_(p["weight_hh"] * s[:, None])
        # b_r = b_ir + b_hr, b_u = -(b_iz + b_hz), b_c = b_in; b_hn stays inside the relevance gate
        self.bias.copy_(torch.cat([p["bias_ih"][: 2 * H] + p["bias_hh"][: 2 * H], p["bias_ih"][2 * H :]]) * s)
        self.recurrent_bias.copy_(p["bias_hh"][2 * H :])


class LSTMCell(_Cell):
    """LSTM, rows [Gu, Gf, c~, Go] (torch's i, f, g, o); `peephole` adds the diagonal weights p_u, p_f, p_o."""

    n_gates, n_states = 4, 2

    def __init__(self, input_size: int, hidden_size: int, peephole: bool = False) -> None:
        super().__init__(input_size, hidden_size)
        self.peephole = nn.Parameter(torch.empty(3, hidden_size)) if peephole else None  # rows p_u, p_f, p_o
        self.reset_parameters()

    def step(self, xp: Tensor, state: State) -> State:
        a, c = state
        u, f, cand, o = torch.addmm(xp, a, self.weight_a.t()).chunk(4, dim=1)  # (B, H) each
        if self.peephole is not None:
            u = u + self.peephole[0] * c
            f = f + self.peephole[1] * c
        c = torch.sigmoid(u) * torch.tanh(cand) + torch.sigmoid(f) * c  # (B, H)
        if self.peephole is not None:
            o = o + self.peephole[2] * c  # the output gate peeks at the new cell
        return torch.sigmoid(o) * torch.tanh(c), c

    @classmethod
    def from_course(cls, parameters: dict[str, np.ndarray]) -> LSTMCell:
        """Build from the course's numpy dict: Wi, Wf, Wc, Wo (n_a, n_a + n_x) acting on [a; x], bi.. (n_a, 1)."""
        names = ("Wi", "Wf", "Wc", "Wo", "bi", "bf", "bc", "bo")  # the course's i is its update gate
        missing = set(names) - set(parameters)
        if missing:
            raise ValueError(f"course LSTM parameters lack {sorted(missing)}")
        t = {k: torch.from_numpy(np.asarray(parameters[k], dtype=np.float64)) for k in names}
        n_a = t["bi"].shape[0]
        W = torch.cat([t["Wi"], t["Wf"], t["Wc"], t["Wo"]])  # (4 n_a, n_a + n_x), rows Gu, Gf, c~, Go
        cell = cls(W.shape[1] - n_a, n_a).double()
        with torch.no_grad():
            cell.weight_a.copy_(W[:, :n_a])
            cell.weight_x.copy_(W[:, n_a:])
            cell.bias.copy_(torch.cat([t["bi"], t["bf"], t["bc"], t["bo"]]).reshape(-1))
        return cell

    def torch_params(self) -> dict[str, Tensor]:
        if self.peephole is not None:
            raise ValueError("torch.nn.LSTM has no peephole connections; they run with impl='scratch' only")
        return super().torch_params()

    def load_torch_params(self, p: dict[str, Tensor]) -> None:
        if self.peephole is not None:
            raise ValueError("torch.nn.LSTM has no peephole connections; they run with impl='scratch' only")
        super().load_torch_params(p)


CELLS = {"rnn": RNNCell, "gru_simple": SimpleGRUCell, "gru": GRUCell, "lstm": LSTMCell}
TORCH_RNNS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (T, B, F) within its own length, padding left in place (an involution)."""
    if lengths is None:
        return x.flip(0)
    t = torch.arange(x.shape[0], device=x.device)[:, None]  # (T, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B)
    return x.gather(0, index[..., None].expand_as(x))


def scan(cell: _Cell, xp: Tensor, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
    """Run `cell` over projected inputs xp (T, B, G*H); `mask` (T, B, 1) freezes the state past each end."""
    outputs = []
    # unbind, not xp[t]: the backward of T selects would write T full-size zero tensors, O(T^2) memory traffic
    for t, xp_t in enumerate(xp.unbind(0)):
        new = cell.step(xp_t, state)
        state = new if mask is None else tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
        outputs.append(state[0])
    return torch.stack(outputs), state  # (T, B, H)


class RecurrentLayer(nn.Module):
    """A deep, optionally bidirectional recurrent layer over padded batches.

    forward(x (B, T, D), lengths (B,) | None, state | None) -> (outputs (B, T, H * dirs), final state), with
    (T, B, ...) instead when `batch_first=False`. The final state follows torch: (L * dirs, B, H) for
    rnn/gru/gru_simple and a pair (a, c) of those for lstm, rows ordered layer by layer, forward then
    backward. With `lengths`, each sequence is read only up to its own end: the backward direction starts
    at its last real token, the final state is taken there, and outputs at padded positions are 0, as
    pack_padded_sequence + pad_packed_sequence give. `state` is an initial state in the same layout (zeros
    when None): feeding one step at a time and passing the returned state back is how sampling runs.

    cell: "rnn" | "gru" | "gru_simple" | "lstm". dropout: applied to the outputs of every layer but the
    last, in training, as torch does. impl: "scratch" (the cells above) or "torch" (nn.RNN/GRU/LSTM, which
    has no gru_simple, peephole or reset_after=False). peephole: LSTM only. reset_after: full GRU only.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        impl: str = "scratch",
        batch_first: bool = True,
        peephole: bool = False,
        reset_after: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
        if impl not in ("scratch", "torch"):
            raise ValueError(f"unknown impl {impl!r}; expected 'scratch' or 'torch'")
        if peephole and cell != "lstm":
            raise ValueError(f"peephole connections belong to the LSTM, not to cell {cell!r}")
        if not reset_after and cell != "gru":
            raise ValueError(f"reset_after=False selects the course's full GRU, not cell {cell!r}")
        if impl == "torch" and (cell == "gru_simple" or peephole or not reset_after):
            raise ValueError(
                "impl='torch' has no simplified GRU, peephole LSTM or reset-before-matmul GRU; use impl='scratch'"
            )
        if min(input_size, hidden_size, num_layers) < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"need input_size, hidden_size, num_layers >= 1 and 0 <= dropout < 1, got "
                f"{input_size}, {hidden_size}, {num_layers}, {dropout}"
            )
        self.cell, self.impl, self.batch_first = cell, impl, batch_first
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.n_states = 2 if cell == "lstm" else 1
        if impl == "torch":
            # dropout acts between layers only; torch warns about it on one layer, where it does nothing
            self.rnn = TORCH_RNNS[cell](
                input_size, hidden_size, num_layers, batch_first=batch_first,
                dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
            )
        else:
            options = {"lstm": {"peephole": peephole}, "gru": {"reset_after": reset_after}}.get(cell, {})
            sizes = [input_size] + [hidden_size * self.num_directions] * (num_layers - 1)
            # cells[layer * dirs + direction], the row order of the final state
            self.cells = nn.ModuleList(
                CELLS[cell](size, hidden_size, **options) for size in sizes for _ in range(self.num_directions)
            )
            self.dropout = nn.Dropout(dropout)

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, impl={self.impl!r}, directions={self.num_directions}"

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
            raise ValueError(f"expected x of shape {layout} with D = {self.input_size}, got {tuple(x.shape)}")
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        lengths = self._check_lengths(lengths, B, T)
        states = self._check_state(state, B)
        if self.impl == "torch":
            return self._forward_torch(x, lengths, state, T)

        x = x.transpose(0, 1).contiguous() if self.batch_first else x  # (T, B, D): x[t] is contiguous
        if lengths is not None and bool((lengths == T).all()):
            lengths = None  # nothing to mask
        mask = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            mask = (torch.arange(T, device=x.device)[:, None] < lengths)[..., None]  # (T, B, 1)
        finals = []
        for layer in range(self.num_layers):
            if layer > 0:
                x = self.dropout(x)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell = self.cells[k]
                init = cell.initial_state(B, x) if states is None else tuple(s[k] for s in states)
                inputs = x if direction == 0 else reverse_padded(x, lengths)
                out, final = scan(cell, cell.project(inputs), init, mask)  # (T, B, H)
                outputs.append(out if direction == 0 else reverse_padded(out, lengths))
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if self.num_directions == 2 else outputs[0]  # (T, B, H * dirs)
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
        final_state = tuple(torch.stack([f[i] for f in finals]) for i in range(self.n_states))  # (L*dirs, B, H)
        return (x.transpose(0, 1) if self.batch_first else x), (final_state if self.n_states == 2 else final_state[0])

    def _forward_torch(
        self, x: Tensor, lengths: Tensor | None, state: Tensor | tuple[Tensor, Tensor] | None, T: int
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        out, final = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=self.batch_first, total_length=T)
        return out, final

    def _check_lengths(self, lengths: Tensor | None, B: int, T: int) -> Tensor | None:
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (B,) or lengths.is_floating_point():
            raise ValueError(
                f"lengths must be an integer tensor of shape ({B},), got {lengths.dtype} {tuple(lengths.shape)}"
            )
        if bool((lengths < 1).any()) or bool((lengths > T).any()):
            raise ValueError(f"lengths must lie in [1, {T}] (the padded length), got {lengths.tolist()}")
        return lengths

    def _check_state(self, state: Tensor | tuple[Tensor, Tensor] | None, B: int) -> tuple[Tensor, ...] | None:
        if state is None:
            return None
        states = (state,) if isinstance(state, Tensor) else tuple(state)
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if len(states) != self.n_states or any(s.shape != shape for s in states):
            kind = "a pair (a, c) of tensors" if self.n_states == 2 else "one tensor"
            got = [tuple(s.shape) for s in states]
            raise ValueError(f"state for cell {self.cell!r} must be {kind} of shape {shape}, got {got}")
        return states


def _torch_names(layer: int, direction: int) -> dict[str, str]:
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    return {name: name + suffix for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


@torch.no_grad()
def copy_weights(src: RecurrentLayer, dst: RecurrentLayer) -> None:
    """Copy `src`'s weights into `dst`, converting between impl='scratch' and impl='torch' (see the table above)."""
    config = ("cell", "input_size", "hidden_size", "num_layers", "num_directions")
    differ = [name for name in config if getattr(src, name) != getattr(dst, name)]
    if differ:
        raise ValueError(f"layers differ in {differ}; weights copy only between identical configurations")
    if src.impl == dst.impl:
        dst.load_state_dict(src.state_dict())
        return
    for layer in range(src.num_layers):
        for direction in range(src.num_directions):
            names = _torch_names(layer, direction)
            k = layer * src.num_directions + direction
            if src.impl == "scratch":
                params = src.cells[k].torch_params()
                for key, name in names.items():
                    getattr(dst.rnn, name).copy_(params[key])
            else:
                dst.cells[k].load_torch_params({key: getattr(src.rnn, name) for key, name in names.items()})
