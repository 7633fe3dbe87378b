"""Character and word tokenizers: text -> list of tokens, and back.

`CharTokenizer` splits into characters (the course's dinosaur names and Shakespeare models; newline is a
character like any other). `WordTokenizer` uses one regular expression: runs of word characters, with an
inner apostrophe kept ("don't", "o'er"), and every other non-space character as a token of its own, so
punctuation is kept as tokens ("Hello, world!" -> hello , world !). `join` undoes both, up to whitespace.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")  # no space before closing punctuation
_SPACE_AFTER = re.compile(r"([(\[{]) ")  # nor after opening brackets


class CharTokenizer:
    """`"Hi!\\n"` -> `["H", "i", "!", "\\n"]` (lower-cased first when `lower`)."""

    def __init__(self, lower: bool = False) -> None:
        self.lower = lower

    def __call__(self, text: str) -> list[str]:
        return list(text.lower() if self.lower else text)

    def join(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def __repr__(self) -> str:
        return f"CharTokenizer(lower={self.lower})"


class WordTokenizer:
    """`"Don't stop, Bob."` -> `["don't", "stop", ",", "bob", "."]` (with `lower`, the default)."""

    def __init__(self, lower: bool = True) -> None:
        self.lower = lower

    def __call__(self, text: str) -> list[str]:
        return _WORD.findall(text.lower() if self.lower else text)

    def join(self, tokens: list[str]) -> str:
        text = " ".join(tokens)
        return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))

    def __repr__(self) -> str:
        return f"WordTokenizer(lower={self.lower})"


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer}


def build_tokenizer(level: str, lower: bool | None = None) -> CharTokenizer | WordTokenizer:
    """`level` is "char" or "word"; `lower=None` keeps each tokenizer's default (char: False, word: True)."""
    if level not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer level {level!r}; expected one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[level]() if lower is None else TOKENIZERS[level](lower=lower)
