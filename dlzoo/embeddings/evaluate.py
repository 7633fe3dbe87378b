"""Intrinsic evaluation: word analogies (questions-words format) and word similarity (Spearman's rho).

Analogy files are word2vec's questions-words.txt format: lines ": section name" open a section, other lines
hold four words "a b c d" meaning a : b :: c : d. A question counts when all four words are in the
vocabulary (optionally only its `restrict_vocab` most frequent words, gensim's default being 300,000); the
prediction is KeyedVectors.analogy (3CosAdd over unit vectors, a, b, c excluded), right when it equals d.
Accuracy is right / counted, the figure word2vec's compute-accuracy and gensim's evaluate_word_analogies
report; questions with unknown words are reported apart, not counted as wrong.

Similarity files (WordSim-353, SimLex-999, MEN ...) hold "word1 word2 score" lines, tab- or space-separated,
with '#' comment lines; the score is Spearman's rank correlation between the human scores and the cosines,
over the pairs whose words are both known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from dlzoo.embeddings.vectors import KeyedVectors

Question = tuple[str, str, str, str, str]  # section, a, b, c, d


def read_analogies(path: str | Path) -> list[Question]:
    """(section, a, b, c, d) for every question of a questions-words file."""
    questions, section = [], None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            words = line.split()
            if len(words) != 4:
                raise ValueError(f"{path}: line {number} must hold 4 words, got {line!r}")
            if section is None:
                raise ValueError(f"{path}: line {number} comes before any ': section' header")
            questions.append((section, *words))
    return questions


def write_analogies(questions: Iterable[Question], path: str | Path) -> None:
    """Write questions in the questions-words format, a ': section' line before each new section."""
    section = None
    with open(path, "w", encoding="utf-8") as f:
        for s, a, b, c, d in questions:
            if s != section:
                f.write(f": {s}\n")
                section = s
            f.write(f"{a} {b} {c} {d}\n")


@dataclass
class AnalogyScore:
    correct: int
    counted: int
    skipped: int  # questions with a word outside the (restricted) vocabulary
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (correct, counted)

    @property
    def accuracy(self) -> float:
        return self.correct / self.counted if self.counted else 0.0


def evaluate_analogies(kv: KeyedVectors, questions: str | Path | list[Question], lowercase: bool = True,
                       restrict_vocab: int | None = 300_000, batch_size: int = 1024) -> AnalogyScore:
    """3CosAdd accuracy on `questions` (a questions-words file or the list `read_analogies` returns)."""
    if isinstance(questions, (str, Path)):
        questions = read_analogies(questions)
    n = len(kv) if restrict_vocab is None else min(len(kv), restrict_vocab)
    unit = kv.unit[:n]  # (n, d)
    index = {}
    for i, w in enumerate(kv.words[:n]):  # the first (most frequent) spelling wins, as in gensim
        index.setdefault(w.lower() if lowercase else w, i)
    known, sections, skipped = [], {}, 0
    for s, *words in questions:
        ids = [index.get(w.lower() if lowercase else w) for w in words]
        sections.setdefault(s, [0, 0])
        if None in ids:
            skipped += 1
        else:
            known.append((s, ids))
    correct = 0
    for start in range(0, len(known), batch_size):
        part = known[start:start + batch_size]
        q = np.array([ids for _, ids in part])  # (Q, 4)
        target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]  # (Q, d) e_b - e_a + e_c
        cos = target @ unit.T  # (Q, n), up to the positive factor 1/|target|
        rows = np.arange(len(part))[:, None]
        cos[rows, q[:, :3]] = -np.inf  # never answer a, b or c
        hit = cos.argmax(1) == q[:, 3]
        for (s, _), h in zip(part, hit):
            sections[s][0] += int(h)
            sections[s][1] += 1
        correct += int(hit.sum())
    return AnalogyScore(correct, len(known), skipped, {s: (c, t) for s, (c, t) in sections.items()})


@dataclass
class SimilarityScore:
    spearman: float
    pairs: int  # pairs with both words known
    oov_pairs: int


def evaluate_similarity(kv: KeyedVectors, path: str | Path, lowercase: bool = True) -> SimilarityScore:
    """Spearman's rho between a similarity file's human scores and the cosine similarities."""
    index = {}
    for i, w in enumerate(kv.words):
        index.setdefault(w.lower() if lowercase else w, i)
    human, model, oov = [], [], 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 3:
                raise ValueError(f"{path}: line {number} must be 'word1 word2 score', got {line.strip()!r}")
            a, b = (parts[0].lower(), parts[1].lower()) if lowercase else parts[:2]
            if a not in index or b not in index:
                oov += 1
                continue
            human.append(float(parts[2]))
            model.append(float(kv.unit[index[a]] @ kv.unit[index[b]]))
    if len(human) < 2:
        raise ValueError(f"{path}: fewer than 2 pairs with both words known ({oov} pairs unknown)")
    rho = stats.spearmanr(human, model).statistic
    return SimilarityScore(float(rho), len(human), oov)
