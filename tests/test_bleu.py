"""dlzoo's corpus BLEU equals sacrebleu's, a worked example by hand, and the sequence accuracy metrics."""

from __future__ import annotations

import math

import pytest
import torch

from dlzoo.ops.bleu import corpus_bleu, exact_match, token_accuracy, tokenize_13a

sacrebleu = pytest.importorskip("sacrebleu", reason="sacrebleu (dev extra) is the reference implementation")

HYPS = [
    "The cat sat on the mat.",
    "It is a guide to action which ensures that the military always obeys the commands of the party.",
    "He said: \"1,000.5 people\" -- it's 3-4 o'clock & late!",
    "no match here",
    "Short.",
    "the 2019-11-10 date, and 10.11.19 too",
]
REFS_A = [
    "The cat is on the mat.",
    "It is a guide to action that ensures that the military will forever heed Party commands.",
    "He said: \"1,000.5 persons\" -- it is 3-4 o'clock &amp; late!",
    "something else entirely",
    "A much longer reference sentence than the hypothesis.",
    "the 2019-11-10 date and 10.11.19",
]
REFS_B = [
    "There is a cat on the mat.",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party.",
    "He said \"1,000.5 people\" - it's 3-4 o'clock and late.",
    "nothing here matches",
    "Short indeed.",
    "2019-11-10, and 10.11.19 too.",
]
DATES_HYP = ["1990-04-28", "2019-11-10", "1998-05-09", "1979-05-03"]
DATES_REF = ["1990-04-28", "2019-10-11", "1998-09-05", "1979-05-03"]


@pytest.mark.parametrize("tokenize", ["13a", "char", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize(
    ("hyps", "refs"),
    [
        (HYPS, [REFS_A]),
        (HYPS, [REFS_A, REFS_B]),
        (HYPS[:3], [REFS_B[:3]]),
        # brevity penalty, and no 3- or 4-gram match: 'exp' smoothing counts them 1/2 and 1/4
        (["the cat sat on a red mat now"], [["the cat is on the mat in a much longer reference"]]),
        (HYPS[4:5], [REFS_A[4:5]]),  # fewer than 4 tokens: no 4-grams at all, BLEU 0
        (HYPS[3:4], [REFS_A[3:4]]),  # no match at all
        (DATES_HYP, [DATES_REF]),
    ],
    ids=["one-ref", "two-refs", "subset", "smoothing", "short", "no-match", "dates"],
)
def test_corpus_bleu_equals_sacrebleu(hyps, refs, tokenize, lowercase):
    ours = corpus_bleu(hyps, refs, tokenize=tokenize, lowercase=lowercase)
    ref = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize, lowercase=lowercase).score
    assert ours == pytest.approx(ref, abs=0.01)


def test_13a_tokenization_equals_sacrebleus():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    reference = Tokenizer13a()
    for line in HYPS + REFS_A + REFS_B + ["a-\nb <skipped> x&lt;y &quot;q&quot;", "3.14, 2,5 and x.y -7 a-b"]:
        assert tokenize_13a(line) == reference(line).split()


def test_worked_example():
    """hyp 'the cat sat on the mat' vs ref 'the cat is on the mat': precisions 5/6, 3/5, 1/4, and no 4-gram
    match among 3, which 'exp' smoothing counts as 1/2 match: 1/6. Equal lengths, so BP = 1."""
    expected = 100 * math.exp((math.log(5 / 6) + math.log(3 / 5) + math.log(1 / 4) + math.log(1 / 6)) / 4)
    assert corpus_bleu(["the cat sat on the mat"], [["the cat is on the mat"]]) == pytest.approx(expected)
    assert corpus_bleu(["the cat is on the mat"], [["the cat is on the mat"]]) == pytest.approx(100.0)


def test_bleu_bad_input():
    with pytest.raises(ValueError, match="reference stream 0"):
        corpus_bleu(["a b"], [["a b", "c"]])
    with pytest.raises(ValueError, match="lists of strings"):
        corpus_bleu(["a b"], ["a b"])
    with pytest.raises(ValueError, match="unknown tokenize"):
        corpus_bleu(["a b"], [["a b"]], tokenize="intl")


PAD = 0


def test_exact_match_and_token_accuracy():
    target = torch.tensor([[5, 6, 7, 3], [5, 6, 3, PAD], [8, 3, PAD, PAD]])
    pred = torch.tensor([[5, 6, 7, 3, PAD], [5, 9, 3, PAD, PAD], [8, 3, 4, PAD, PAD]])  # right, 1 wrong, too long
    assert exact_match(pred, target, PAD) == pytest.approx(1 / 3)
    assert token_accuracy(pred, target, PAD) == pytest.approx(8 / 9)  # 9 real target tokens, 1 wrong
    short = torch.tensor([[5, 6], [5, 6], [8, 3]])  # cut before the target's end
    assert exact_match(short, target, PAD) == pytest.approx(1 / 3)
    assert token_accuracy(short, target, PAD) == pytest.approx(6 / 9)
    assert exact_match(target, target, PAD) == 1.0 and token_accuracy(target, target, PAD) == 1.0
    with pytest.raises(ValueError, match="expected pred"):
        exact_match(pred[:2], target, PAD)
