"""Seq2Seq: the course's parameter count, padding masked in the encoder, attention and loss, teacher forcing,
the step API agreeing with the training forward pass, and the encoder's scratch and torch implementations
agreeing on the same weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.models.rnn import copy_weights
from dlzoo.models.seq2seq import COURSE_DATE_MODEL, RNNEncoder, build_seq2seq, course_date_model, sequence_loss

PAD, BOS, EOS = 0, 2, 3
SRC_V, TGT_V = 12, 9
CONFIGS = [
    dict(cell="lstm", attention="course", feed_previous=True),
    dict(cell="gru", attention="bahdanau", bidirectional=False, init_state="bridge", src_embed_dim=5),
    dict(cell="lstm", attention="luong_general", tgt_embed_dim=4, encoder_layers=2),
    dict(cell="gru", attention=None, init_state="bridge"),  # the no-attention baseline
    dict(cell="lstm", attention="course", encoder_impl="scratch", encoder_layers=2),  # the course's cells
]


def _model(seed: int = 0, **kw):
    torch.manual_seed(seed)
    kw = {"encoder_hidden": 8, "decoder_hidden": 10, **kw}
    return build_seq2seq(SRC_V, TGT_V, pad_id=PAD, **kw).double().eval()


def _batch(lengths, seed: int = 1, width: int | None = None):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(4, SRC_V, (len(lengths), width or int(lengths.max())), generator=g)
    src = src.masked_fill(torch.arange(src.shape[1]) >= lengths[:, None], PAD)
    tgt = torch.randint(4, TGT_V, (len(lengths), 6), generator=g)
    tgt[:, 0] = BOS
    return src, lengths, tgt


def test_course_date_model_has_the_courses_parameter_count():
    """The course's model.summary(): 52,960 parameters for Tx vocab 37, Ty vocab 11. Keras LSTMs have one bias
    a gate, torch's two (b_ih and b_hh): 4 gates x (2 x 32 for the Bi-LSTM + 64 for the post-attention LSTM)."""
    model = course_date_model(37, 11)
    assert sum(p.numel() for p in model.parameters()) == 52_960 + 4 * (2 * 32 + 64)
    assert model.encoder.output_size == 64 and model.hidden_size == 64 and not model.feed_previous
    # the scratch encoder has one bias a gate, as Keras: only the decoder's nn.LSTMCell counts b_hh on top
    scratch = build_seq2seq(37, 11, **COURSE_DATE_MODEL, encoder_impl="scratch")
    assert sum(p.numel() for p in scratch.parameters()) == 52_960 + 4 * 64


def test_encoder_final_state_is_read_at_each_true_length():
    """Packed sequences: the forward direction ends at the last real token, the backward one at the first,
    padded outputs are 0, and each sentence equals the plain LSTM run on it alone."""
    torch.manual_seed(0)
    enc = RNNEncoder(SRC_V, 5, cell="lstm", bidirectional=True, embed_dim=4).double()
    src, lengths, _ = _batch([6, 2, 4])
    outputs, final = enc(src, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, (h, _) = enc.rnn(enc.embed(src[b:b + 1, :n]))
        torch.testing.assert_close(outputs[b, :n], alone[0])
        assert bool((outputs[b, n:] == 0).all())
        torch.testing.assert_close(final[b], torch.cat([alone[0, n - 1, :5], alone[0, 0, 5:]]))
        torch.testing.assert_close(final[b], torch.cat([h[0, 0], h[1, 0]]))


@pytest.mark.parametrize(
    "cell, bidirectional, layers, embed_dim",
    [("lstm", True, 1, None), ("gru", True, 2, 4), ("lstm", False, 2, 4), ("gru", False, 1, None)],
)
def test_scratch_encoder_equals_torch_encoder_on_the_same_weights(cell, bidirectional, layers, embed_dim):
    """Both RecurrentLayer implementations, weights copied across (copy_weights), give the same outputs, final
    states and gradients on a padded batch of mixed lengths, with zeros at every padded output."""
    kw = dict(cell=cell, bidirectional=bidirectional, num_layers=layers, embed_dim=embed_dim)
    torch.manual_seed(0)
    fast = RNNEncoder(SRC_V, 5, impl="torch", **kw).double()
    slow = RNNEncoder(SRC_V, 5, impl="scratch", **kw).double()
    copy_weights(fast.rnn, slow.rnn)
    if embed_dim:
        slow.embed.load_state_dict(fast.embed.state_dict())
    src, lengths, _ = _batch([6, 2, 4, 1], width=7)
    results = []
    for enc in (fast, slow):
        outputs, final = enc(src, lengths)
        assert outputs.shape == (4, 7, enc.output_size) and final.shape == (4, enc.output_size)
        assert bool((outputs[torch.arange(7) >= lengths[:, None]] == 0).all())
        results.append((outputs, final))
    for (fast_t, slow_t) in zip(*results):
        torch.testing.assert_close(slow_t, fast_t, rtol=0, atol=1e-12)
    if embed_dim:  # gradients reach the embedding alike through both
        weight = torch.linspace(-1, 1, results[0][0].numel(), dtype=torch.float64).view_as(results[0][0])
        for outputs, final in results:
            ((outputs * weight).sum() + final.pow(2).sum()).backward()
        torch.testing.assert_close(slow.embed.weight.grad, fast.embed.weight.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_padding_is_masked_everywhere(cfg):
    """A sentence's logits are the same alone, in a padded batch, and with garbage in the padding."""
    model = _model(**cfg)
    src, lengths, tgt = _batch([5, 2, 7, 1], width=9)
    logits, attn = model(src, lengths, tgt)
    garbage = src.masked_fill(torch.arange(src.shape[1]) >= lengths[:, None], 7)
    torch.testing.assert_close(model(garbage, lengths, tgt)[0], logits, rtol=0, atol=1e-12)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_attn = model(src[b:b + 1, :n], lengths[b:b + 1], tgt[b:b + 1])
        torch.testing.assert_close(alone[0], logits[b])
        if attn is not None:
            torch.testing.assert_close(alone_attn[0], attn[b, :, :n])
            assert bool((attn[b, :, n:] == 0).all())


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_equals_the_step_api(cfg):
    model = _model(**cfg)
    src, lengths, tgt = _batch([5, 3])
    logits, attn = model(src, lengths, tgt)
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    for t in range(tgt.shape[1]):
        log_probs, state, w = model.decode_step(tgt[:, t], state, memory)
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))
        if attn is not None:
            torch.testing.assert_close(w, attn[:, t])


def test_reorder_state_gathers_rows():
    model = _model(cell="lstm", attention="course")
    src, lengths, _ = _batch([5, 3, 4])
    memory = model.encode(src, lengths)
    state = (torch.randn(3, 10, dtype=torch.float64), torch.randn(3, 10, dtype=torch.float64))
    index = torch.tensor([2, 2, 0])
    h, c = model.reorder_state(state, index)
    assert torch.equal(h, state[0][index]) and torch.equal(c, state[1][index])
    moved = model.reorder_memory(memory, index)
    assert all(torch.equal(m2, m[index]) for m, m2 in zip(memory, moved))


def test_teacher_forcing_ratio():
    """Ratio 1 reads the given tokens; ratio 0 reads only <bos> and then the model's own argmax."""
    model = _model(cell="gru", attention="course", tgt_embed_dim=4)
    src, lengths, tgt = _batch([5, 3, 6])
    other = tgt.clone()
    other[:, 1:] = (tgt[:, 1:] - 4 + 1) % (TGT_V - 4) + 4  # every token after <bos> changed
    assert not torch.allclose(model(src, lengths, tgt)[0][:, 1:], model(src, lengths, other)[0][:, 1:])
    own = model(src, lengths, tgt, teacher_forcing_ratio=0.0)[0]
    torch.testing.assert_close(model(src, lengths, other, teacher_forcing_ratio=0.0)[0], own)
    fed = tgt.clone()
    fed[:, 1:] = own[:, :-1].argmax(-1)  # feeding the model its own argmax explicitly gives the same logits
    torch.testing.assert_close(model(src, lengths, fed)[0], own)
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        model(src, lengths, tgt, teacher_forcing_ratio=1.5)


def test_course_decoder_does_not_read_previous_tokens():
    model = course_date_model(SRC_V, TGT_V).double()
    src, lengths, tgt = _batch([5, 3])
    torch.testing.assert_close(model(src, lengths, tgt)[0], model(src, lengths, torch.full_like(tgt, 5))[0])


def test_sequence_loss_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
    tgt = torch.tensor([[4, 5, EOS, PAD], [5, EOS, PAD, PAD]])
    real = [(b, t) for b in range(2) for t in range(4) if tgt[b, t] != PAD]
    expected = -sum(logits[b, t].log_softmax(-1)[tgt[b, t]] for b, t in real) / len(real)
    torch.testing.assert_close(sequence_loss(logits, tgt, PAD), expected)
    changed = logits.clone()
    changed[tgt == PAD] = 100.0
    torch.testing.assert_close(sequence_loss(changed, tgt, PAD), expected)
    torch.testing.assert_close(expected, F.cross_entropy(logits[tgt != PAD], tgt[tgt != PAD]))


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="bridge"):
        _model(attention=None, init_state="zeros")
    with pytest.raises(ValueError, match="neither attention nor feed_previous"):
        _model(attention=None, init_state="bridge", feed_previous=False)
    with pytest.raises(ValueError, match="unknown decoder cell|unknown encoder cell"):
        _model(cell="rnn")
    with pytest.raises(ValueError, match="unknown course_date_model"):
        course_date_model(SRC_V, TGT_V, n_a=16)
    model = _model()
    src, lengths, tgt = _batch([5, 3])
    with pytest.raises(ValueError, match="lengths"):
        model(src, torch.tensor([5, 0]), tgt)
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lengths, tgt[:1])
