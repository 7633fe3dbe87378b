"""Vocabulary: a fixed list of tokens and their indices.

The first four indices hold the special tokens, in this order: <pad> = 0 (so zero-filled padding is padding),
<unk> = 1 (any token not in the vocabulary), <bos> = 2 and <eos> = 3 (the start and end of a sequence, used
by the language models to begin sampling and to know when to stop). The other tokens follow, most frequent
first and ties broken by the token itself, so the same corpus always gives the same indices.

`state_dict()` is `{"itos": [str, ...]}`: plain Python lists and strings, so a Vocab stored inside a Lightning
checkpoint loads with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


class Vocab:
    """Token <-> index mapping; index `i` is `itos[i]`, the first `len(SPECIALS)` entries are the specials."""

    pad_index, unk_index, bos_index, eos_index = range(len(SPECIALS))

    def __init__(self, itos: Sequence[str]) -> None:
        itos = list(itos)
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"itos must start with the special tokens {SPECIALS}, got {itos[:len(SPECIALS)]}")
        if len(set(itos)) != len(itos):
            duplicates = sorted(token for token, n in Counter(itos).items() if n > 1)
            raise ValueError(f"itos has duplicate tokens: {duplicates[:10]}")
        self.itos = itos
        self.stoi = {token: index for index, token in enumerate(itos)}

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Count the tokens of `sequences` and keep those seen at least `min_freq` times.

        Each element of `sequences` is one tokenized sequence (a string counts as its characters, which is
        the character-level case).

        `max_size` caps the whole vocabulary, specials included (it is the embedding's row count); the most
        frequent tokens are kept. Order: frequency descending, then the token ascending.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must be >= {len(SPECIALS)} (the special tokens), got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in sequences:
            counts.update(tokens)
        kept = sorted(
            (token for token, n in counts.items() if n >= min_freq and token not in SPECIALS),
            key=lambda token: (-counts[token], token),
        )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[len(SPECIALS):len(SPECIALS) + 5]})"

    def encode(self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Indices of `tokens`, unknown tokens mapped to <unk>, optionally framed by <bos> ... <eos>."""
        ids = [self.stoi.get(token, self.unk_index) for token in tokens]
        return [self.bos_index] * add_bos + ids + [self.eos_index] * add_eos

    def decode(self, ids: Iterable[int], skip_specials: bool = True, stop_at_eos: bool = True) -> list[str]:
        """Tokens of `ids` (ints or a 1-D tensor); stops at the first <eos> and drops the specials by default."""
        tokens = []
        for index in (int(i) for i in ids):
            if not 0 <= index < len(self.itos):
                raise ValueError(f"index {index} is outside the vocabulary of size {len(self.itos)}")
            if stop_at_eos and index == self.eos_index:
                break
            if skip_specials and index < len(SPECIALS):
                continue
            tokens.append(self.itos[index])
        return tokens

    def state_dict(self) -> dict[str, list[str]]:
        return {"itos": list(self.itos)}

    @classmethod
    def from_state_dict(cls, state: dict[str, list[str]]) -> Vocab:
        if "itos" not in state:
            raise ValueError(f"a Vocab state_dict has the key 'itos', got keys {sorted(state)}")
        return cls(state["itos"])
