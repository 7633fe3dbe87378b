"""Word vectors with their words: cosine similarity, nearest neighbours, analogies, and the file formats.

Analogies use 3CosAdd (Mikolov, Yih and Zweig 2013, "Linguistic Regularities in Continuous Space Word
Representations"): a is to b as c is to argmax_w cos(e_w, e_b - e_a + e_c), over every word but a, b and c,
with each e unit-normalized first, as word2vec's compute-accuracy and gensim do (the course writes the same
argmax without the normalization; on vectors of similar length the two agree).

Formats, all UTF-8, one word a line with its numbers separated by single spaces:
- GloVe text: "word x1 ... xd", no header (glove.6B.50d.txt and friends).
- word2vec text: a header line "V d", then as GloVe.
- word2vec binary: the header line "V d\\n", then per word "word " followed by d little-endian float32 and
  a "\\n" (word2vec.c's -binary 1 output; the reader also accepts the newline missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class KeyedVectors:
    """`vectors[i]` (V, d) float32 is the vector of `words[i]`."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"vectors must have shape ({len(words)}, d) for {len(words)} words, "
                             f"got {vectors.shape}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words must be distinct")
        self.vectors = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.maximum(norms, 1e-12)  # (V, d) rows of length 1 (zero rows stay zero)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._id(word)]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def _id(self, word: str) -> int:
        if word not in self.index:
            raise ValueError(f"word {word!r} is not in the vocabulary ({len(self)} words)")
        return self.index[word]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self._id(a)] @ self.unit[self._id(b)])

    def nearest(self, query: str | np.ndarray, topn: int = 10,
                exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The `topn` words of highest cosine with `query` (a word, excluded itself, or a vector)."""
        if isinstance(query, str):
            exclude = [*exclude, query]
            query = self.unit[self._id(query)]
        query = np.asarray(query, dtype=np.float32)
        if query.shape != (self.dim,):
            raise ValueError(f"query vector must have shape ({self.dim},), got {query.shape}")
        cos = self.unit @ (query / max(np.linalg.norm(query), 1e-12))  # (V,)
        cos[[self._id(w) for w in exclude]] = -np.inf
        top = np.argsort(-cos, kind="stable")[:topn]
        return [(self.words[i], float(cos[i])) for i in top]

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ? -> argmax_w cos(e_w, e_b - e_a + e_c), w not in {a, b, c} (unit vectors)."""
        ia, ib, ic = self._id(a), self._id(b), self._id(c)
        return self.nearest(self.unit[ib] - self.unit[ia] + self.unit[ic], topn, exclude=[a, b, c])

    def matrix_for(self, tokens: Sequence[str], seed: int = 0) -> tuple[np.ndarray, list[str]]:
        """Rows for `tokens` in order (an embedding matrix for another vocabulary) and the tokens not found.

        Missing tokens get normal noise of the known vectors' mean std, so they start distinct from each other.
        """
        rng = np.random.default_rng(seed)
        out = rng.normal(0.0, float(self.vectors.std()), (len(tokens), self.dim)).astype(np.float32)
        missing = []
        for row, token in enumerate(tokens):
            if token in self.index:
                out[row] = self.vectors[self.index[token]]
            else:
                missing.append(token)
        return out, missing


def _line(word: str, vec: np.ndarray) -> str:
    return word + " " + " ".join(map(str, vec.tolist())) + "\n"  # shortest repr: reads back bit-exact


def save_glove(kv: KeyedVectors, path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(_line(word, vec) for word, vec in zip(kv.words, kv.vectors))


def save_word2vec(kv: KeyedVectors, path: str | Path, binary: bool = False) -> None:
    if binary:
        with open(path, "wb") as f:
            f.write(f"{len(kv)} {kv.dim}\n".encode())
            for word, vec in zip(kv.words, kv.vectors):
                f.write(word.encode("utf-8") + b" " + vec.astype("<f4").tobytes() + b"\n")
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{len(kv)} {kv.dim}\n")
            f.writelines(_line(word, vec) for word, vec in zip(kv.words, kv.vectors))


def _read_text(lines, path, expected_dim: int | None, max_words: int | None) -> KeyedVectors:
    words, rows = [], []
    for number, line in enumerate(lines, 1):
        if max_words is not None and len(words) >= max_words:
            break
        parts = line.rstrip("\n").rstrip(" ").split(" ")
        if len(parts) < 2:
            continue
        dim = expected_dim or len(parts) - 1
        if len(parts) - 1 != dim:
            raise ValueError(f"{path}: line {number} has {len(parts) - 1} numbers, expected {dim}")
        expected_dim = dim
        words.append(parts[0])
        rows.append(np.array(parts[1:], dtype=np.float32))
    if not words:
        raise ValueError(f"{path}: no vectors found")
    return KeyedVectors(words, np.stack(rows))


def load_glove(path: str | Path, max_words: int | None = None) -> KeyedVectors:
    """GloVe's text format (no header); `max_words` reads only the first (most frequent) words."""
    with open(path, encoding="utf-8") as f:
        return _read_text(f, path, None, max_words)


def load_word2vec(path: str | Path, binary: bool = False, max_words: int | None = None) -> KeyedVectors:
    """word2vec's text or binary format (header "V d")."""
    if not binary:
        with open(path, encoding="utf-8") as f:
            v, d = _header(f.readline(), path)
            return _read_text(f, path, d, max_words)
    with open(path, "rb") as f:
        v, d = _header(f.readline().decode("utf-8"), path)
        n = v if max_words is None else min(v, max_words)
        words, vectors = [], np.empty((n, d), dtype=np.float32)
        for i in range(n):
            word = bytearray()
            while (ch := f.read(1)) != b" ":
                if not ch:
                    raise ValueError(f"{path}: file ends in word {i} of {v}")
                if ch != b"\n":  # the newline after the previous vector
                    word += ch
            data = f.read(4 * d)
            if len(data) != 4 * d:
                raise ValueError(f"{path}: file ends in the vector of word {i} of {v}")
            words.append(word.decode("utf-8"))
            vectors[i] = np.frombuffer(data, dtype="<f4")
    return KeyedVectors(words, vectors)


def _header(line: str, path) -> tuple[int, int]:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{path}: the first line must be the word2vec header 'V d', got {line[:50]!r}")
    return int(parts[0]), int(parts[1])


def load_vectors(path: str | Path) -> KeyedVectors:
    """Any of the three formats: binary when the file ends in .bin, word2vec text when it starts with a
    "V d" header, GloVe text otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"vector file {str(path)!r} does not exist")
    if path.suffix == ".bin":
        return load_word2vec(path, binary=True)
    with open(path, encoding="utf-8") as f:
        first = f.readline().split()
    is_header = len(first) == 2 and all(p.isdigit() for p in first)
    return load_word2vec(path) if is_header else load_glove(path)
