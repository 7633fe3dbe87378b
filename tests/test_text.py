"""dlzoo.text: vocabulary order and round trips, tokenizers, padding collates."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlzoo.text import (
    SPECIALS,
    CharTokenizer,
    Vocab,
    WordTokenizer,
    build_tokenizer,
    collate_labeled,
    collate_lm,
    pad_batch,
)

CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat"], ["the", "end"]]


# ---------------------------------------------------------------- Vocab


def test_specials_come_first_with_pad_zero():
    vocab = Vocab.build(CORPUS)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] == list(SPECIALS)
    assert (vocab.pad_index, vocab.unk_index, vocab.bos_index, vocab.eos_index) == (0, 1, 2, 3)


def test_order_is_frequency_then_token():
    # the: 3, cat: 2, sat: 2, then a, dog, end once each; ties sorted alphabetically
    assert Vocab.build(CORPUS).itos[4:] == ["the", "cat", "sat", "a", "dog", "end"]
    assert Vocab.build(reversed(CORPUS)) == Vocab.build(CORPUS)  # input order does not matter


def test_min_freq_and_max_size():
    assert Vocab.build(CORPUS, min_freq=2).itos[4:] == ["the", "cat", "sat"]
    small = Vocab.build(CORPUS, max_size=6)  # max_size counts the four specials
    assert len(small) == 6 and small.itos[4:] == ["the", "cat"]
    assert small["sat"] == small.unk_index


def test_strings_count_as_character_sequences():
    vocab = Vocab.build(["abba", "cab"])
    assert vocab.itos[4:] == ["a", "b", "c"]


def test_encode_decode_round_trip():
    vocab = Vocab.build(CORPUS)
    ids = vocab.encode(["the", "cat", "flew"], add_bos=True, add_eos=True)
    assert ids == [2, 4, 5, vocab.unk_index, 3]
    assert vocab.decode(ids) == ["the", "cat"]  # drops <bos> and <unk>, stops at <eos>
    assert vocab.decode(ids, skip_specials=False) == ["<bos>", "the", "cat", "<unk>"]
    assert vocab.decode(ids + [4], skip_specials=False, stop_at_eos=False)[-2:] == ["<eos>", "the"]
    assert vocab.decode(torch.tensor([4, 9])) == ["the", "end"]  # tensors decode too
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([len(vocab)])


def test_state_dict_survives_a_weights_only_checkpoint():
    vocab = Vocab.build(CORPUS)
    buffer = io.BytesIO()
    torch.save({"state_dict": {}, "vocab": vocab.state_dict()}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # how Lightning checkpoints load under torch >= 2.6
    assert Vocab.from_state_dict(loaded["vocab"]) == vocab


def test_bad_vocab_input_raises():
    with pytest.raises(ValueError, match="special tokens"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocab([*SPECIALS, "a", "a"])
    with pytest.raises(ValueError, match="itos"):
        Vocab.from_state_dict({"tokens": []})
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(CORPUS, min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(CORPUS, max_size=3)


def test_dinos_character_vocabulary():
    data = Path(os.environ.get("DLZOO_DATA_DIR", Path(__file__).parents[1] / ".." / "shared" / "data"))
    path = data / "course" / "dinos.txt"
    if not path.exists():
        pytest.skip(f"course file dinos.txt not found under {data} (set DLZOO_DATA_DIR)")
    tokenize = CharTokenizer(lower=True)
    vocab = Vocab.build([tokenize(path.read_text())])
    # the course's 27 characters: a-z and newline, after our four specials
    assert len(vocab) == 4 + 27
    assert sorted(vocab.itos[4:]) == ["\n", *"abcdefghijklmnopqrstuvwxyz"]


# ---------------------------------------------------------------- tokenizers


def test_char_tokenizer():
    assert CharTokenizer()("Hi!\n") == ["H", "i", "!", "\n"]
    assert CharTokenizer(lower=True)("Hi!") == ["h", "i", "!"]
    assert CharTokenizer().join(CharTokenizer()("To be,\nor not")) == "To be,\nor not"


def test_word_tokenizer_keeps_punctuation_as_tokens():
    tokenize = WordTokenizer()
    assert tokenize("Don't stop, Bob... (really)!") == [
        "don't", "stop", ",", "bob", ".", ".", ".", "(", "really", ")", "!",
    ]
    assert WordTokenizer(lower=False)("O'er the Sea") == ["O'er", "the", "Sea"]
    assert tokenize.join(tokenize("Well, (I think) it's fine.")) == "well, (i think) it's fine."


def test_build_tokenizer():
    assert isinstance(build_tokenizer("char"), CharTokenizer) and not build_tokenizer("char").lower
    assert build_tokenizer("word").lower and not build_tokenizer("word", lower=False).lower
    with pytest.raises(ValueError, match="unknown tokenizer level"):
        build_tokenizer("bpe")


# ---------------------------------------------------------------- collates


def test_pad_batch_round_trips_through_packing():
    seqs = [[5, 6, 7], [8], [9, 10]]
    padded, lengths = pad_batch(seqs)
    assert padded.dtype == lengths.dtype == torch.long
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    assert torch.equal(pad_packed_sequence(packed, batch_first=True)[0], padded)
    with pytest.raises(ValueError, match="non-empty"):
        pad_batch([[1], []])
    with pytest.raises(ValueError, match="empty batch"):
        pad_batch([])


def test_collate_lm_shifts_by_one_and_ignores_padding():
    seqs = [[2, 5, 6, 3], [2, 7, 3]]  # <bos> ... <eos>
    inputs, targets, lengths = collate_lm(seqs)
    assert inputs.tolist() == [[2, 5, 6], [2, 7, 0]]  # the shorter sequence's <eos> is not an input
    assert targets.tolist() == [[5, 6, 3], [7, 3, -100]]
    assert lengths.tolist() == [3, 2]
    # cross-entropy over the padded batch == cross-entropy over the real tokens only
    logits = torch.randn(2, 3, 8)
    real = torch.cat([logits[0], logits[1, :2]])
    padded_loss = F.cross_entropy(logits.reshape(-1, 8), targets.reshape(-1))
    torch.testing.assert_close(padded_loss, F.cross_entropy(real, torch.tensor([5, 6, 3, 7, 3])))
    with pytest.raises(ValueError, match=">= 2 tokens"):
        collate_lm([[2, 3], [2]])


def test_collate_labeled_classification_and_tagging():
    inputs, lengths, labels = collate_labeled([([4, 5, 6], 1), ([7], 0)])
    assert inputs.tolist() == [[4, 5, 6], [7, 0, 0]] and lengths.tolist() == [3, 1]
    assert labels.tolist() == [1, 0]
    _, _, tags = collate_labeled([([4, 5, 6], [1, 0, 2]), ([7], [2])])
    assert tags.tolist() == [[1, 0, 2], [2, -100, -100]]
    with pytest.raises(ValueError, match="as long as its input"):
        collate_labeled([([4, 5, 6], [1, 0]), ([7], [2])])
