"""Beam search: width 1 is greedy, a beam wide enough to hold every sequence is exhaustive search, results do
not depend on the batch, and the returned scores are the model's own normalized log-likelihoods."""

from __future__ import annotations

import itertools

import pytest
import torch

from dlzoo.models.seq2seq import build_seq2seq
from dlzoo.ops.beam_search import beam_search, greedy_decode

PAD, BOS, EOS = 0, 1, 2
IDS = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD)
SRC_V = 10


def _model(tgt_vocab: int, seed: int = 0, **kw):
    torch.manual_seed(seed)
    kw = {"encoder_hidden": 8, "decoder_hidden": 12, "attention": "bahdanau", "feed_previous": True, **kw}
    model = build_seq2seq(SRC_V, tgt_vocab, pad_id=PAD, **kw).double().eval()
    with torch.no_grad():  # a random model spreads its probability: sharpen it so that ranks are not near-ties
        model.out.weight.mul_(4.0)
    return model


def _sources(n: int, max_len: int, seed: int = 1, width: int | None = None, lengths: torch.Tensor | None = None):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (n,), generator=g) if lengths is None else lengths
    src = torch.randint(3, SRC_V, (n, width or max_len), generator=g)
    return src.masked_fill(torch.arange(src.shape[1]) >= lengths[:, None], PAD), lengths


def _sequence_log_prob(model, src, lengths, seqs: list[list[int]]) -> torch.Tensor:
    """Teacher-forced sum of log P(y<t>) for each sequence (all for the same source sentence)."""
    width = max(len(s) for s in seqs)
    tgt = torch.full((len(seqs), width + 1), PAD)
    tgt[:, 0] = BOS
    for i, s in enumerate(seqs):
        tgt[i, 1:len(s) + 1] = torch.tensor(s)
    logits, _ = model(src.expand(len(seqs), -1), lengths.expand(len(seqs)), tgt[:, :-1])
    log_probs = logits.log_softmax(-1).gather(2, tgt[:, 1:, None])[..., 0]  # (N, T)
    return log_probs.masked_fill(tgt[:, 1:] == PAD, 0.0).sum(1)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_width_one_is_greedy(cell):
    model = _model(8, cell=cell)
    src, lengths = _sources(16, 6)
    greedy = greedy_decode(model, src, lengths, max_len=8, **IDS)
    beam = beam_search(model, src, lengths, beam_size=1, max_len=8, alpha=0.7, **IDS)
    assert torch.equal(beam.tokens[:, 0], greedy.tokens)
    assert torch.equal(beam.lengths[:, 0], greedy.lengths)
    torch.testing.assert_close(beam.log_probs[:, 0], greedy.log_probs)
    assert bool((greedy.tokens == EOS).any())  # the test covers sentences that end before max_len


@pytest.mark.parametrize(("max_len", "alpha"), [(3, 0.7), (3, 0.0), (3, 1.0), (4, 0.7)])
def test_a_beam_holding_every_sequence_is_exhaustive_search(max_len, alpha):
    """Target vocabulary <pad>, <bos>, <eos>, a, b: the outputs are the sequences over {a, b} that end with
    <eos> or reach max_len. Beam size = their number, so nothing is pruned, and the beam's ranking must be
    the exhaustive one: every sequence scored by teacher forcing, normalized by 1 / T^alpha."""
    model = _model(5)
    words = [3, 4]
    seqs = [list(p) + [EOS] for n in range(max_len) for p in itertools.product(words, repeat=n)]
    seqs += [list(p) for p in itertools.product(words, repeat=max_len)]
    src, lengths = _sources(3, 5)
    for b in range(src.shape[0]):
        s, n = src[b:b + 1], lengths[b:b + 1]
        log_p = _sequence_log_prob(model, s, n, seqs)  # (S,)
        scores = log_p / torch.tensor([len(q) for q in seqs], dtype=log_p.dtype) ** alpha
        order = scores.argsort(descending=True).tolist()
        beam = beam_search(model, s, n, beam_size=len(seqs), n_best=len(seqs), max_len=max_len, alpha=alpha, **IDS)
        found = [row[:k].tolist() for row, k in zip(beam.tokens[0], beam.lengths[0].tolist())]
        assert found == [seqs[i] for i in order]
        torch.testing.assert_close(beam.scores[0], scores[order])


@torch.no_grad()
def _reference_beam_search(model, src, lengths, beam_size, max_len, alpha):
    """The documented algorithm for one sentence, one hypothesis at a time, in plain Python."""
    memory = model.encode(src, lengths)
    beams = [([], 0.0, False, model.init_state(memory))]  # (tokens, sum log P, finished, state)
    for _ in range(max_len):
        candidates = []
        for tokens, total, finished, state in beams:
            if finished:
                candidates.append((tokens, total, True, state))
                continue
            prev = torch.tensor([tokens[-1] if tokens else BOS])
            log_probs, new_state, _ = model.decode_step(prev, state, memory)
            for v in range(log_probs.shape[1]):
                if v not in (PAD, BOS):
                    candidates.append((tokens + [v], total + float(log_probs[0, v]), v == EOS, new_state))
        beams = sorted(candidates, key=lambda c: c[1] / len(c[0]) ** alpha, reverse=True)[:beam_size]
        if all(b[2] for b in beams):
            break
    return [b[0] for b in beams], [b[1] / len(b[0]) ** alpha for b in beams]


@pytest.mark.parametrize(("tgt_vocab", "beam_size", "alpha"), [(5, 2, 1.0), (5, 3, 0.7), (6, 4, 0.0)])
def test_equals_a_per_sentence_reference_implementation(tgt_vocab, beam_size, alpha):
    """Pruning included: the batched search keeps the same hypotheses as the plain-Python one. (With 3
    output tokens and alpha = 1, finished and open hypotheses compete for the beam, so pruning by the raw
    log-likelihood instead of the normalized one fails this test.)"""
    model = _model(tgt_vocab)
    src, lengths = _sources(8, 5)
    out = beam_search(model, src, lengths, beam_size=beam_size, n_best=beam_size, max_len=6, alpha=alpha, **IDS)
    for b in range(8):
        seqs, scores = _reference_beam_search(model, src[b:b + 1], lengths[b:b + 1], beam_size, 6, alpha)
        assert [row[:k].tolist() for row, k in zip(out.tokens[b], out.lengths[b].tolist())] == seqs
        torch.testing.assert_close(out.scores[b], torch.tensor(scores, dtype=out.scores.dtype))


def test_results_do_not_depend_on_batch_or_padding():
    """A sentence decoded alone equals it decoded in a batch of 64 padded to a longer width."""
    model = _model(9, cell="lstm", attention="course")
    src, lengths = _sources(64, 7, width=11, lengths=torch.arange(64) * 3 % 7 + 1)  # every 4th: all of 1..7
    batch = beam_search(model, src, lengths, beam_size=5, n_best=3, max_len=9, **IDS)
    greedy = greedy_decode(model, src, lengths, max_len=9, **IDS)
    for b in range(0, 64, 4):  # 16 of them, every source length among them
        s, n = src[b:b + 1, : int(lengths[b])], lengths[b:b + 1]
        alone = beam_search(model, s, n, beam_size=5, n_best=3, max_len=9, **IDS)
        width = alone.tokens.shape[2]
        assert torch.equal(alone.tokens[0], batch.tokens[b, :, :width])
        assert bool((batch.tokens[b, :, width:] == PAD).all())
        torch.testing.assert_close(alone.scores[0], batch.scores[b])
        g = greedy_decode(model, s, n, max_len=9, **IDS)
        assert torch.equal(g.tokens[0], greedy.tokens[b, : g.tokens.shape[1]])
        torch.testing.assert_close(g.attention[0], greedy.attention[b, : g.tokens.shape[1], : int(n)])


def test_hypotheses_are_frozen_after_eos_and_scored_by_the_model():
    model = _model(9)
    src, lengths = _sources(8, 6)
    alpha = 0.7
    out = beam_search(model, src, lengths, beam_size=4, n_best=4, max_len=7, alpha=alpha, **IDS)
    for b in range(8):
        assert bool((out.scores[b, :-1] >= out.scores[b, 1:]).all())
        seqs = []
        for row, k in zip(out.tokens[b], out.lengths[b].tolist()):
            eos = (row == EOS).nonzero()
            if len(eos):  # everything after the first <eos> is padding, and the length ends at <eos>
                assert k == int(eos[0]) + 1 and bool((row[k:] == PAD).all())
            else:
                assert k == 7
            assert not bool(((row[:k] == PAD) | (row[:k] == BOS)).any())
            seqs.append(row[:k].tolist())
        assert len({tuple(s) for s in seqs}) == 4  # distinct hypotheses
        log_p = _sequence_log_prob(model, src[b:b + 1], lengths[b:b + 1], seqs)
        torch.testing.assert_close(out.log_probs[b], log_p)
        torch.testing.assert_close(out.scores[b], log_p / out.lengths[b].double() ** alpha)


def test_bad_arguments_are_clear_errors():
    model = _model(6)
    src, lengths = _sources(2, 4)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, src, lengths, beam_size=2, n_best=3, max_len=4, **IDS)
    with pytest.raises(ValueError, match="must differ"):
        greedy_decode(model, src, lengths, max_len=4, bos_id=1, eos_id=1, pad_id=0)
    with pytest.raises(ValueError, match="max_len"):
        beam_search(model, src, lengths, beam_size=2, max_len=0, **IDS)
