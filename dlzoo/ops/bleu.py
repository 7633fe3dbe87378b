"""Corpus BLEU (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation"),
computed as sacrebleu computes it (Post 2018, "A Call for Clarity in Reporting BLEU Scores"), and the
sequence metrics of the date model: exact match and per-token accuracy.

    p_n  = sum_sentences sum_{ngram} min(count_hyp, max_refs count_ref) / sum_sentences sum_{ngram} count_hyp
    BP   = 1 if c >= r else exp(1 - r / c)          c = hypothesis tokens, r = closest reference lengths
    BLEU = 100 * BP * exp(1/4 sum_{n=1..4} log p_n)

Counts are summed over the corpus before dividing (corpus BLEU, not the mean of sentence BLEUs). The reference
length of a sentence is that of the reference closest in length to the hypothesis, the shorter on a tie.

Smoothing 'exp' (sacrebleu's default, mteval-v13a's NIST smoothing, Chen and Cherry 2014 method 3): the k-th
order with no match gets p_n = 1 / (2^k total_n). An order with no hypothesis n-grams at all makes the score 0,
and so does a corpus without a single unigram match.

Tokenizers: '13a' (sacrebleu's default, mteval-v13a: punctuation and symbols split off, '.' and ',' kept
inside numbers, '-' split after a digit), 'char' (every non-space character is a token, for the date
strings) and 'none' (whitespace split). Hypotheses and references are stripped of trailing whitespace first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # symbols and punctuation
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma unless preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period and comma unless followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
]


def tokenize_13a(line: str) -> list[str]:
    """mteval-v13a tokenization, as sacrebleu's Tokenizer13a."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A_RULES:
        line = pattern.sub(replacement, line)
    return line.split()


TOKENIZERS = {"13a": tokenize_13a, "char": lambda line: list("".join(line.split())), "none": str.split}


def _ngrams(tokens: list[str], max_order: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
    max_order: int = 4,
) -> float:
    """BLEU in [0, 100]. ``references`` is a list of reference streams, each as long as ``hypotheses``
    (sacrebleu's layout: ``references[k][i]`` is the k-th reference of sentence i)."""
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown tokenize {tokenize!r}; expected one of {sorted(TOKENIZERS)}")
    if isinstance(hypotheses, str) or not references or isinstance(references[0], str):
        raise ValueError("expected hypotheses as a list of strings and references as a list of lists of strings")
    for k, stream in enumerate(references):
        if len(stream) != len(hypotheses):
            raise ValueError(f"reference stream {k} has {len(stream)} sentences, hypotheses have {len(hypotheses)}")
    split = TOKENIZERS[tokenize]

    def prep(line: str) -> list[str]:
        return split((line.lower() if lowercase else line).rstrip())

    correct, total = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for i, hyp in enumerate(hypotheses):
        hyp_tokens = prep(hyp)
        refs = [prep(stream[i]) for stream in references]
        max_ref: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            max_ref |= _ngrams(ref, max_order)  # | keeps the max count over references (clipping)
        for ngram, count in _ngrams(hyp_tokens, max_order).items():
            total[len(ngram) - 1] += count
            correct[len(ngram) - 1] += min(count, max_ref[ngram])
        hyp_len += len(hyp_tokens)
        ref_len += min((abs(len(r) - len(hyp_tokens)), len(r)) for r in refs)[1]  # closest, shorter on a tie

    if not any(correct) or not all(total):
        return 0.0
    log_precision, misses = 0.0, 0
    for c, t in zip(correct, total):
        if c == 0:  # 'exp' smoothing
            misses += 1
            c = 1 / 2**misses
        log_precision += math.log(c / t)
    bp = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * bp * math.exp(log_precision / max_order)


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.dim() != 2 or target.dim() != 2 or pred.shape[0] != target.shape[0]:
        raise ValueError(
            f"expected pred (B, Lp) and target (B, Lt) token ids, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )


def _align(pred: Tensor, target: Tensor, pad_id: int) -> Tensor:
    """``pred`` cut or right-padded with ``pad_id`` to the width of ``target``."""
    width = target.shape[1]
    return F.pad(pred[:, :width], (0, max(0, width - pred.shape[1])), value=pad_id)  # (B, Lt)


def exact_match(pred: Tensor, target: Tensor, pad_id: int) -> float:
    """Fraction of sentences whose predicted ids equal the target ids everywhere, padding included (so a
    prediction longer or shorter than its target is wrong). Both are (B, L) right-padded with ``pad_id``."""
    _check_pair(pred, target)
    longer = (pred[:, target.shape[1]:] != pad_id).any(dim=1)  # (B,) tokens past the target's width
    return ((_align(pred, target, pad_id) == target).all(dim=1) & ~longer).float().mean().item()


def token_accuracy(pred: Tensor, target: Tensor, pad_id: int) -> float:
    """Fraction of the non-pad target positions t where pred[b, t] == target[b, t]."""
    _check_pair(pred, target)
    real = target != pad_id  # (B, Lt)
    hits = (_align(pred, target, pad_id) == target) & real
    return (hits.sum() / real.sum()).item()
