"""dlzoo.models.rnn: the course's numpy checks, equality with torch.nn.RNN/GRU/LSTM, padding and state handling.

The course numbers are the expected outputs printed in Course 5 week 1's notebook "Building your Recurrent
Neural Network - Step by Step" (rnn_cell_forward, lstm_cell_forward, lstm_forward, rnn_backward); the
rnn_cell a_next[4] row is also in ../shared/COURSE_TARGETS.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlzoo.models.rnn import LSTMCell, RecurrentLayer, RNNCell, copy_weights, reverse_padded

F64 = torch.float64


def t64(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


# ---------------------------------------------------------------- the course's numpy checks (columns = examples)


def test_course_rnn_cell_forward():
    np.random.seed(1)
    x, a_prev = np.random.randn(3, 10), np.random.randn(5, 10)
    Waa, Wax, Wya = np.random.randn(5, 5), np.random.randn(5, 3), np.random.randn(2, 5)
    ba, by = np.random.randn(5, 1), np.random.randn(2, 1)
    cell = RNNCell.from_course({"Waa": Waa, "Wax": Wax, "Wya": Wya, "ba": ba, "by": by})
    with torch.no_grad():
        a_next = cell(t64(x.T), t64(a_prev.T))  # dlzoo is batch-first: rows are examples
        y_hat = cell.predict(a_next)
    np.testing.assert_allclose(
        a_next.T[4].numpy(),
        [0.59584544, 0.18141802, 0.61311866, 0.99808218, 0.85016201,
         0.99980978, -0.18887155, 0.99815551, 0.6531151, 0.82872037],
        atol=1e-8,
    )
    np.testing.assert_allclose(
        y_hat.T[1].numpy(),
        [0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387,
         0.88945212, 0.36920224, 0.9966312, 0.9982559, 0.17746526],
        atol=1e-8,
    )


def _course_lstm_parameters() -> dict[str, np.ndarray]:
    p = {}
    for gate in "fioc":  # the notebook's drawing order
        p["W" + gate], p["b" + gate] = np.random.randn(5, 5 + 3), np.random.randn(5, 1)
    return p


def test_course_lstm_cell_forward():
    np.random.seed(1)
    x, a_prev, c_prev = np.random.randn(3, 10), np.random.randn(5, 10), np.random.randn(5, 10)
    cell = LSTMCell.from_course(_course_lstm_parameters())
    with torch.no_grad():
        a_next, c_next = cell(t64(x.T), (t64(a_prev.T), t64(c_prev.T)))
    np.testing.assert_allclose(
        a_next.T[4].numpy(),
        [-0.66408471, 0.0036921, 0.02088357, 0.22834167, -0.85575339,
         0.00138482, 0.76566531, 0.34631421, -0.00215674, 0.43827275],
        atol=1e-8,
    )
    np.testing.assert_allclose(
        c_next.T[2].numpy(),
        [0.63267805, 1.00570849, 0.35504474, 0.20690913, -1.64566718,
         0.11832942, 0.76449811, -0.0981561, -0.74348425, -0.26810932],
        atol=1e-8,
    )


def test_course_lstm_forward_over_a_sequence():
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 7), np.random.randn(5, 10)  # (n_x, m, T_x), (n_a, m)
    layer = RecurrentLayer("lstm", 3, 5).double()
    layer.cells[0].load_state_dict(LSTMCell.from_course(_course_lstm_parameters()).state_dict())
    X, A0 = t64(x.transpose(1, 2, 0)), t64(a0.T)[None]  # (m, T_x, n_x), (1, m, n_a)
    with torch.no_grad():
        a, _ = layer(X, state=(A0, torch.zeros_like(A0)))
        _, (_, c_t1) = layer(X[:, :2], state=(A0, torch.zeros_like(A0)))  # the memory cell after t = 1
    assert a[3, 6, 4].item() == pytest.approx(0.17211776753291672, abs=1e-12)  # course a[4][3][6]
    assert c_t1[0, 2, 1].item() == pytest.approx(-0.8555449167181981, abs=1e-12)  # course c[1][2][1]


def test_course_rnn_backward_gradients():
    # the notebook derives these by hand (rnn_cell_backward); here autograd through RecurrentLayer gives them
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 4), np.random.randn(5, 10)
    Wax, Waa, _Wya, ba, _by = (np.random.randn(*s) for s in ((5, 3), (5, 5), (2, 5), (5, 1), (2, 1)))
    da = np.random.randn(5, 10, 4)  # upstream gradient of every a<t>
    layer = RecurrentLayer("rnn", 3, 5).double()
    layer.cells[0].load_state_dict(RNNCell.from_course({"Wax": Wax, "Waa": Waa, "ba": ba}).state_dict())
    X = t64(x.transpose(1, 2, 0)).requires_grad_()
    A0 = t64(a0.T)[None].requires_grad_()
    a, _ = layer(X, state=A0)
    (a * t64(da.transpose(1, 2, 0))).sum().backward()
    cell = layer.cells[0]
    np.testing.assert_allclose(X.grad[2, :, 1].numpy(), [-2.07101689, -0.59255627, 0.02466855, 0.01483317], atol=1e-8)
    assert A0.grad[0, 3, 2].item() == pytest.approx(-0.3149423751266499, abs=1e-12)
    assert cell.weight_x.grad[3, 1].item() == pytest.approx(11.264104496527777, abs=1e-12)  # dWax[3][1]
    assert cell.weight_a.grad[1, 2].item() == pytest.approx(2.3033331265798926, abs=1e-12)  # dWaa[1][2]
    assert cell.bias.grad[4].item() == pytest.approx(-0.74747722, abs=1e-8)  # dba[4]


# ---------------------------------------------------------------- scratch == torch.nn, forward and backward


def _run(layer: RecurrentLayer, x: torch.Tensor, lengths: torch.Tensor | None):
    """Outputs, final states and the gradient of x under a loss that weights every output and state."""
    x = x.clone().requires_grad_()
    out, state = layer(x, lengths)
    states = state if isinstance(state, tuple) else (state,)
    weights = torch.linspace(-1, 1, out.numel(), dtype=F64).view_as(out)
    loss = (out * weights).sum() + sum((s * s.cos()).sum() for s in states)
    loss.backward()
    return out.detach(), [s.detach() for s in states], x.grad


def _torch_layout_grads(cell, H: int) -> dict[str, torch.Tensor]:
    """The gradients torch's weight_ih / weight_hh / bias_ih / bias_hh should have, from the scratch cell's.

    rnn/lstm: the same blocks, and one bias b = b_ih + b_hh gets the gradient of each. gru: rows of Gu are
    minus torch's z rows, so their gradients flip sign; b_r, b_u are b_i + b_h, b_c is b_in and recurrent_bias b_hn.
    """
    sign = torch.ones(cell.weight_x.shape[0], dtype=F64)
    if cell.weight_x.shape[0] == 3 * H:
        sign[H : 2 * H] = -1
        b_hh = torch.cat([cell.bias.grad[: 2 * H] * sign[: 2 * H], cell.recurrent_bias.grad])
    else:
        b_hh = cell.bias.grad
    return {
        "weight_ih": cell.weight_x.grad * sign[:, None],
        "weight_hh": cell.weight_a.grad * sign[:, None],
        "bias_ih": cell.bias.grad * sign,
        "bias_hh": b_hh,
    }


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_scratch_equals_torch(cell, num_layers, bidirectional, padded):
    torch.manual_seed(0)
    D, H = 4, 6
    reference = RecurrentLayer(cell, D, H, num_layers, bidirectional, impl="torch").double()
    scratch = RecurrentLayer(cell, D, H, num_layers, bidirectional).double()
    copy_weights(reference, scratch)
    x = torch.randn(5, 7, D, dtype=F64)
    lengths = torch.tensor([7, 3, 1, 6, 4]) if padded else None

    out_t, states_t, dx_t = _run(reference, x, lengths)
    out_s, states_s, dx_s = _run(scratch, x, lengths)
    assert out_s.shape == (5, 7, H * (2 if bidirectional else 1))
    torch.testing.assert_close(out_s, out_t, rtol=0, atol=1e-6)
    for s, t in zip(states_s, states_t, strict=True):
        torch.testing.assert_close(s, t, rtol=0, atol=1e-6)
    torch.testing.assert_close(dx_s, dx_t, rtol=0, atol=1e-6)
    dirs = 2 if bidirectional else 1
    for layer in range(num_layers):
        for direction in range(dirs):
            expected = _torch_layout_grads(scratch.cells[layer * dirs + direction], H)
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            for name, grad in expected.items():
                torch.testing.assert_close(grad, getattr(reference.rnn, name + suffix).grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_copy_weights_scratch_to_torch_round_trip(cell):
    torch.manual_seed(1)
    scratch = RecurrentLayer(cell, 3, 4, num_layers=2, bidirectional=True).double()
    reference = RecurrentLayer(cell, 3, 4, num_layers=2, bidirectional=True, impl="torch").double()
    back = RecurrentLayer(cell, 3, 4, num_layers=2, bidirectional=True).double()
    copy_weights(scratch, reference)
    copy_weights(reference, back)
    for (name, p), q in zip(scratch.named_parameters(), back.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-15, msg=name)
    x = torch.randn(2, 5, 3, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(scratch(x)[0], reference(x)[0], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- padding, state passing, layout


SCRATCH_ONLY = [
    pytest.param("gru_simple", {}, id="gru_simple"),
    pytest.param("gru", {"reset_after": False}, id="gru_course"),
    pytest.param("lstm", {"peephole": True}, id="lstm_peephole"),
]
ALL_CELLS = [pytest.param(cell, {}, id=cell) for cell in ("rnn", "gru", "lstm")] + SCRATCH_ONLY


@pytest.mark.parametrize(("cell", "options"), ALL_CELLS)
def test_padded_batch_equals_each_sequence_alone(cell, options):
    """Each padded row gives what that sequence gives unpadded on its own; padded outputs are 0."""
    torch.manual_seed(2)
    layer = RecurrentLayer(cell, 3, 4, num_layers=2, bidirectional=True, **options).double()
    lengths = torch.tensor([2, 6, 4])
    x = torch.randn(3, 6, 3, dtype=F64)
    with torch.no_grad():
        out, state = layer(x, lengths)
        states = state if isinstance(state, tuple) else (state,)
        for b, n in enumerate(lengths.tolist()):
            alone, alone_state = layer(x[b : b + 1, :n])
            alone_states = alone_state if isinstance(alone_state, tuple) else (alone_state,)
            torch.testing.assert_close(out[b, :n], alone[0], rtol=0, atol=1e-12)
            assert torch.all(out[b, n:] == 0)
            for s, a in zip(states, alone_states, strict=True):
                torch.testing.assert_close(s[:, b], a[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("cell", "options", "impl"),
    [pytest.param(*p.values, "scratch", id=f"{p.id}-scratch") for p in ALL_CELLS]
    + [pytest.param(cell, {}, "torch", id=f"{cell}-torch") for cell in ("rnn", "gru", "lstm")],
)
def test_step_by_step_with_state_equals_whole_sequence(cell, options, impl):
    """Generation feeds one step at a time and carries the state; it must give the full-sequence outputs."""
    torch.manual_seed(3)
    layer = RecurrentLayer(cell, 3, 4, num_layers=2, impl=impl, **options).double()
    x = torch.randn(2, 5, 3, dtype=F64)
    with torch.no_grad():
        whole, final = layer(x)
        state, steps = None, []
        for t in range(5):
            out, state = layer(x[:, t : t + 1], state=state)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=1), whole, rtol=0, atol=1e-12)
    for s, f in zip(state if isinstance(state, tuple) else (state,), final if isinstance(final, tuple) else (final,)):
        torch.testing.assert_close(s, f, rtol=0, atol=1e-12)


def test_time_major_layout_matches_batch_first():
    torch.manual_seed(4)
    batch_first = RecurrentLayer("lstm", 3, 4, bidirectional=True).double()
    time_major = RecurrentLayer("lstm", 3, 4, bidirectional=True, batch_first=False).double()
    time_major.load_state_dict(batch_first.state_dict())
    x, lengths = torch.randn(3, 5, 3, dtype=F64), torch.tensor([5, 2, 3])
    with torch.no_grad():
        out_time_major, _ = time_major(x.transpose(0, 1), lengths)
        torch.testing.assert_close(out_time_major.transpose(0, 1), batch_first(x, lengths)[0])


def test_reverse_padded_reverses_within_each_length():
    x = torch.arange(4 * 2).reshape(4, 2, 1)  # (T, B, 1): column b holds b, b + 2, b + 4, b + 6
    r = reverse_padded(x, torch.tensor([4, 2]))
    assert r[:, 0, 0].tolist() == [6, 4, 2, 0]
    assert r[:, 1, 0].tolist() == [3, 1, 5, 7]  # only the first two steps swap; padding stays put
    assert torch.equal(reverse_padded(r, torch.tensor([4, 2])), x)


def test_dropout_acts_only_between_layers_and_in_training():
    torch.manual_seed(5)
    x = torch.randn(2, 4, 3)
    one = RecurrentLayer("gru", 3, 8, num_layers=1, dropout=0.5)
    two = RecurrentLayer("gru", 3, 8, num_layers=2, dropout=0.5)
    assert torch.equal(one(x)[0], one(x)[0])  # one layer: nothing between layers to drop
    assert not torch.equal(two(x)[0], two(x)[0])  # two layers, training: fresh masks differ
    two.eval()
    assert torch.equal(two(x)[0], two(x)[0])


# ---------------------------------------------------------------- scratch-only cells against the course's equations


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _course_weights(cell) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-gate W (H, H + D) acting on the course's concatenation [a<t-1>; x<t>], and b (H, 1)."""
    W = torch.cat([cell.weight_a, cell.weight_x], dim=1).detach().numpy()
    b = cell.bias.detach().numpy()[:, None]
    return np.split(W, cell.n_gates), np.split(b, cell.n_gates)


@pytest.mark.parametrize(("cell_name", "options"), SCRATCH_ONLY)
def test_scratch_only_cells_follow_the_course_equations(cell_name, options):
    """Course layout (columns are examples), one numpy step per time step, straight from the lecture."""
    torch.manual_seed(6)
    D, H, T, m = 3, 4, 5, 2
    layer = RecurrentLayer(cell_name, D, H, **options).double()
    cell = layer.cells[0]
    (W, b), x = _course_weights(cell), np.random.default_rng(0).standard_normal((D, m, T))
    a, c = np.zeros((H, m)), np.zeros((H, m))
    for t in range(T):
        ax = np.concatenate([a, x[:, :, t]])
        if cell_name == "gru_simple":  # rows Gu, c~
            gu, c_tilde = _sigmoid(W[0] @ ax + b[0]), np.tanh(W[1] @ ax + b[1])
            a = gu * c_tilde + (1 - gu) * a
        elif cell_name == "gru":  # rows Gr, Gu, c~; c~ = tanh(W_c[Gr * c, x] + b_c)
            gr, gu = _sigmoid(W[0] @ ax + b[0]), _sigmoid(W[1] @ ax + b[1])
            c_tilde = np.tanh(W[2] @ np.concatenate([gr * a, x[:, :, t]]) + b[2])
            a = gu * c_tilde + (1 - gu) * a
        else:  # peephole LSTM, rows Gu, Gf, c~, Go
            p = cell.peephole.detach().numpy()[:, :, None]
            gu, gf = _sigmoid(W[0] @ ax + b[0] + p[0] * c), _sigmoid(W[1] @ ax + b[1] + p[1] * c)
            c = gu * np.tanh(W[2] @ ax + b[2]) + gf * c
            a = _sigmoid(W[3] @ ax + b[3] + p[2] * c) * np.tanh(c)
    with torch.no_grad():
        out, _ = layer(t64(x.transpose(1, 2, 0)))
    np.testing.assert_allclose(out[:, -1].numpy().T, a, rtol=0, atol=1e-12)


def test_gru_reset_after_is_a_different_function_from_the_course_gru():
    torch.manual_seed(7)
    after = RecurrentLayer("gru", 3, 4).double()
    before = RecurrentLayer("gru", 3, 4, reset_after=False).double()
    with torch.no_grad():
        after.cells[0].recurrent_bias.zero_()  # the only extra parameter: without it, only the formula differs
    before.load_state_dict({k: v for k, v in after.state_dict().items() if "recurrent_bias" not in k})
    x = torch.randn(2, 5, 3, dtype=F64)
    with torch.no_grad():
        assert (after(x)[0] - before(x)[0]).abs().max() > 1e-3


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cell": "lstmm"}, "unknown cell"),
        ({"cell": "lstm", "impl": "cudnn"}, "unknown impl"),
        ({"cell": "gru_simple", "impl": "torch"}, "impl='torch'"),
        ({"cell": "lstm", "peephole": True, "impl": "torch"}, "impl='torch'"),
        ({"cell": "gru", "reset_after": False, "impl": "torch"}, "impl='torch'"),
        ({"cell": "gru", "peephole": True}, "peephole"),
        ({"cell": "lstm", "reset_after": False}, "reset_after"),
        ({"cell": "rnn", "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RecurrentLayer(input_size=3, hidden_size=4, **kwargs)


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_bad_forward_inputs_raise(impl):
    layer = RecurrentLayer("lstm", 3, 4, num_layers=2, impl=impl)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="D = 3"):
        layer(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="D = 3"):
        layer(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"lie in \[1, 5\]"):
        layer(x, torch.tensor([6, 2]))
    with pytest.raises(ValueError, match=r"lie in \[1, 5\]"):
        layer(x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="shape"):
        layer(x, torch.tensor([5, 2, 1]))
    with pytest.raises(ValueError, match=r"pair \(a, c\)"):
        layer(x, state=torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"\(2, 2, 4\)"):
        layer(x, state=(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))


def test_copy_weights_rejects_mismatches():
    with pytest.raises(ValueError, match="num_layers"):
        copy_weights(RecurrentLayer("gru", 3, 4), RecurrentLayer("gru", 3, 4, num_layers=2, impl="torch"))
    with pytest.raises(ValueError, match="peephole"):
        copy_weights(
            RecurrentLayer("lstm", 3, 4, peephole=True), RecurrentLayer("lstm", 3, 4, impl="torch")
        )


def test_rnn_cell_predict_needs_a_readout():
    with pytest.raises(ValueError, match="output_size"):
        RNNCell(3, 4).predict(torch.zeros(1, 4))
