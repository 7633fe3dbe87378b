"""Emojify (C5W2): the two models, the emoji and negation data, GloVe-file initialisation, runs through the
runner and predictions from the checkpoint alone."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlzoo.checkpoint import read_checkpoint
from dlzoo.config import compose
from dlzoo.data.emoji import (
    COURSE_EMOJI,
    NEGATIVE,
    POSITIVE,
    EmojiDataModule,
    NegationDataModule,
    read_emoji_csv,
)
from dlzoo.embeddings.vectors import KeyedVectors, save_glove
from dlzoo.errors import DlzooError
from dlzoo.models.emojify import EmojifyV1, EmojifyV2
from dlzoo.predict import predict
from dlzoo.text import collate_labeled

V, C, D = 20, 5, 6


def padded(sentences: list[list[int]], extra: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, T + extra), lengths (B,)): right-padded with <pad> = 0 past the longest sentence."""
    tokens, lengths, _ = collate_labeled([(s, 0) for s in sentences])
    return F.pad(tokens, (0, extra)), lengths


SENTENCES = [[4, 5, 6], [7, 8, 9, 10, 11], [12]]


def test_v1_is_the_mean_of_the_real_words_embeddings():
    torch.manual_seed(0)
    net = EmojifyV1(V, C, D)
    tokens, lengths = padded(SENTENCES, extra=2)  # (3, 7)
    naive = torch.stack([net.embedding.weight[s].mean(0) for s in SENTENCES]) @ net.head.weight.T + net.head.bias
    assert net(tokens).shape == (3, C)
    torch.testing.assert_close(net(tokens), naive)
    torch.testing.assert_close(net(tokens, lengths), naive)


def test_v2_output_does_not_depend_on_the_padding():
    torch.manual_seed(0)
    net = EmojifyV2(V, C, D, hidden_size=8).eval()
    alone = torch.cat([net(torch.tensor([s])) for s in SENTENCES])  # each sentence unpadded
    for extra in (0, 3):
        tokens, lengths = padded(SENTENCES, extra)
        assert net(tokens).shape == (3, C)
        torch.testing.assert_close(net(tokens), alone)
        torch.testing.assert_close(net(tokens, lengths), alone)


def test_v1_ignores_word_order_and_v2_reads_it():
    """The course's argument for v2: "not good , bad" and "bad , not good" average to the same vector."""
    torch.manual_seed(0)
    ordered, reordered = torch.tensor([[4, 5, 6, 7]]), torch.tensor([[7, 6, 5, 4]])
    v1, v2 = EmojifyV1(V, C, D), EmojifyV2(V, C, D, hidden_size=8).eval()
    torch.testing.assert_close(v1(ordered), v1(reordered))
    assert not torch.allclose(v2(ordered), v2(reordered))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="all <pad>"):
        EmojifyV1(V, C, D)(torch.tensor([[4, 5], [0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        EmojifyV1(V, C, D)(torch.tensor([4, 5]))
    with pytest.raises(ValueError, match="<= 2"):
        EmojifyV1(V, C, D)(torch.tensor([[4, 5]]), torch.tensor([3]))


@pytest.mark.parametrize("model", [EmojifyV1, EmojifyV2])
@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embeddings_do_not_change_in_a_training_step(model, freeze):
    torch.manual_seed(0)
    net = model(V, C, D, freeze_embeddings=freeze)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.AdamW(net.parameters(), weight_decay=0.5)  # all of them, as the runner passes them
    tokens, lengths = padded(SENTENCES)
    F.cross_entropy(net(tokens, lengths), torch.tensor([0, 1, 2])).backward()
    optimizer.step()
    after = dict(net.named_parameters())
    assert torch.equal(after["embedding.weight"], before["embedding.weight"]) == freeze
    assert not torch.equal(after["head.weight"], before["head.weight"])


def write_csv(path, rows: list[str]) -> None:
    path.write_text("".join(row + "\r\n" for row in rows), encoding="utf-8")


@pytest.fixture
def emoji_dir(tmp_path):
    """Two files in the course's formats: extra empty columns and a '[k]' note in the training file,
    quoted sentences ending in a tab in the test file."""
    write_csv(tmp_path / "train_emoji.csv", [
        "never talk to me again,3,,", "I love you mum,0,,", "Miss you so much,0,, [0]", "food is life,4,,",
        "I want to go play,1,, [3]", "Sounds like a fun plan ha ha,2,,",
    ])
    write_csv(tmp_path / "tesss.csv", ['"I want to eat\t",4', '"I adore you\t",0'])
    return tmp_path


def test_course_csv_format_is_read(emoji_dir):
    assert read_emoji_csv(emoji_dir / "train_emoji.csv")[2:4] == [("Miss you so much", 0), ("food is life", 4)]
    assert read_emoji_csv(emoji_dir / "tesss.csv") == [("I want to eat\t", 4), ("I adore you\t", 0)]
    dm = EmojiDataModule(str(emoji_dir), batch_size=4)
    dm.setup()
    assert not dm.has_validation and dm.net_sizes()["num_classes"] == (5, (5,))
    tokens, lengths, labels = next(iter(dm.eval_dataloaders()["test"]))
    assert dm.vocab.decode(tokens[1]) == ["i", "you"] and dm.vocab.itos[tokens[1, 1]] == "<unk>"  # "adore" is unseen
    assert lengths.tolist() == [4, 3] and labels.tolist() == [4, 0]


def test_validation_split_is_carved_from_train_by_seed(emoji_dir):
    sentences = ["never talk to me again", "i love you mum", "miss you so much", "food is life", "i want to go play",
                 "sounds like a fun plan ha ha"]

    def split(seed):
        dm = EmojiDataModule(str(emoji_dir), val_fraction=0.34, seed=seed)
        dm.setup()
        return [[" ".join(dm.vocab.decode(t, skip_specials=False)) for t, _ in dm.datasets[name]]
                for name in ("train", "val")]

    train, val = split(0)
    assert len(train) == 4 and set(train) < set(sentences)  # the vocabulary is the 4 training sentences' words
    seen = {w for s in train for w in s.split()}
    held_out = [" ".join(w if w in seen else "<unk>" for w in s.split()) for s in sentences if s not in train]
    assert sorted(val) == sorted(held_out)
    assert split(0) == [train, val]


def test_data_errors_say_what_to_do(emoji_dir, tmp_path):
    with pytest.raises(DlzooError, match=r"data file not found: .*nowhere/train_emoji.csv.*data.root=<folder>"):
        EmojiDataModule(str(tmp_path / "nowhere")).setup()
    write_csv(emoji_dir / "tesss.csv", ['"I want to eat\t",4', "a sentence without a label"])
    with pytest.raises(DlzooError, match=r"tesss.csv, line 2: expected 'sentence,label' with a label 0-4"):
        EmojiDataModule(str(emoji_dir)).setup()
    with pytest.raises(DlzooError, match=r"embeddings file not found: .*glove.txt.*embeddings.path=null"):
        NegationDataModule(n_train=8, embeddings_path=str(tmp_path / "glove.txt")).net_sizes()
    with pytest.raises(DlzooError, match="needs a vectors file"):
        NegationDataModule(vocab_from_vectors=True)


def planted_glove(path, words: list[str], dim: int = 8) -> KeyedVectors:
    kv = KeyedVectors(words, np.random.default_rng(0).normal(size=(len(words), dim)))
    save_glove(kv, path)
    return kv


def test_glove_file_initialises_known_words_and_randomises_the_rest(emoji_dir, tmp_path):
    kv = planted_glove(tmp_path / "glove.txt", ["you", "love", "food", "adore", "zebra"])
    dm = EmojiDataModule(str(emoji_dir), embeddings_path=str(tmp_path / "glove.txt"))
    matrix = dm.pretrained_embeddings()  # (V, 8)
    assert matrix.shape == (len(dm.vocab), 8) and dm.net_sizes()["embed_dim"] == (8, (8,))
    for word in ("you", "love", "food"):
        assert torch.equal(matrix[dm.vocab[word]], torch.from_numpy(kv[word]))
    assert "adore" not in dm.vocab  # the vocabulary is the training split's
    assert torch.equal(matrix[0], torch.zeros(8))  # <pad>
    missing = matrix[dm.vocab["mum"]]
    assert missing.abs().sum() > 0 and not any(torch.equal(missing, torch.from_numpy(v)) for v in kv.vectors)

    wide = EmojiDataModule(str(emoji_dir), embeddings_path=str(tmp_path / "glove.txt"), vocab_from_vectors=True)
    matrix = wide.pretrained_embeddings()
    assert {"adore", "zebra"} <= set(wide.vocab.itos)  # a test word unseen in training keeps its vector
    assert torch.equal(matrix[wide.vocab["adore"]], torch.from_numpy(kv["adore"]))


def negation_label(sentence: str) -> int:
    """The label the negation set's sentences mean: the first adjective's polarity, flipped by a negator
    unless the sentence is a contrast ("good , not bad" is positive)."""
    first = next(w for w in sentence.split() if w in POSITIVE + NEGATIVE)
    negators = (" not ", " never ", " hardly ", " far from ", " lacking in ")
    flipped = " , not " not in sentence and any(n in f" {sentence} " for n in negators)
    return int((first in POSITIVE) != flipped)


def test_negation_set_means_what_it_says_and_defeats_an_average():
    """Seeded; labels follow the sentences' meaning; balanced; many bags of words occur with both labels
    (the contrast twins), which no average of embeddings can separate."""
    rows = NegationDataModule(n_train=2000, seed=3).load()["train"]
    assert rows == NegationDataModule(n_train=2000, seed=3).load()["train"]
    assert all(label == negation_label(sentence) for sentence, label in rows)
    assert {"not", "never", "hardly", "lacking", "full", ","} <= {w for s, _ in rows for w in s.split()}
    assert 0.4 < np.mean([y for _, y in rows]) < 0.6
    labels_of_bag = defaultdict(set)
    for sentence, label in rows:
        labels_of_bag[tuple(sorted(sentence.split()))].add(label)
    assert sum(len(labels) == 2 for labels in labels_of_bag.values()) > 20


def test_planted_glove_file_trains_end_to_end_and_frozen_stays_the_file(run, tmp_path):
    vocab_words = ["the", "food", "was", "not", "good", "bad", "great", "awful", ",", "at", "all"]
    kv = planted_glove(tmp_path / "glove.txt", vocab_words)
    common = [f"embeddings.path={tmp_path / 'glove.txt'}", "model.net.embed_dim=8", "model.net.freeze_embeddings=true",
              "data.n_train=96", "data.n_val=32", "data.n_test=32", "trainer.max_epochs=2"]
    metrics, out = run("experiment=negation_v1", *common)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    ckpt = read_checkpoint(out / "checkpoints" / "last.ckpt")
    itos = ckpt["dlzoo"]["data_state"]["vocab"]["itos"]
    weights = ckpt["state_dict"]["net.embedding.weight"]
    for word in ("food", "not", "good"):
        assert torch.equal(weights[itos.index(word)], torch.from_numpy(kv[word]))
    with pytest.raises(DlzooError, match=r"model.net.embed_dim=50 but data 'negation' gives 8"):
        run("experiment=negation_v2", *common[:1], "debug=fdr")


def test_resume_restores_the_trained_embedding_not_the_files(run, tmp_path):
    planted_glove(tmp_path / "glove.txt", ["the", "food", "was", "not", "good", "bad"])
    args = ["experiment=negation_v1", f"embeddings.path={tmp_path / 'glove.txt'}", "model.net.embed_dim=8",
            "data.n_train=64", "data.n_val=16", "data.n_test=16"]
    _, straight = run(*args, "trainer.max_epochs=2", folder="straight")
    _, half = run(*args, "trainer.max_epochs=1", folder="half")
    _, resumed = run(*args, "trainer.max_epochs=2", f"ckpt_path={half / 'checkpoints' / 'last.ckpt'}", folder="resumed")
    a = read_checkpoint(straight / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_emojify_v1_learned_from_scratch_passes_the_bar_and_predicts_from_its_checkpoint(run, data_dir, tmp_path):
    """The issue's bar: test accuracy >= 0.50 (chance 0.2) on the course's 56 test sentences, no GloVe file."""
    metrics, out = run("experiment=c5w2_emojify_v1", "seed=0")
    assert metrics["test/acc"] >= 0.50 and metrics["train/acc"] >= 0.95
    cfg = compose([f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", f"paths.output_dir={tmp_path / 'pred'}"],
                  config_name="predict")
    lines = predict(cfg, ["i love you", "lets play baseball", "I am so hungry , lets eat"])
    assert [line.split("\t")[:2] for line in lines] == [
        ["i love you", COURSE_EMOJI[0]],
        ["lets play baseball", COURSE_EMOJI[1]],
        ["I am so hungry , lets eat", COURSE_EMOJI[4]],
    ]
    assert all(0.2 < float(line.split("\t")[2]) <= 1.0 for line in lines)
    with pytest.raises(DlzooError, match="no tokens"):
        predict(cfg, ["   "])


@pytest.mark.slow
def test_emojify_v1_bar_holds_across_seeds(run, data_dir):
    accuracies = [run("experiment=c5w2_emojify_v1", f"seed={seed}")[0]["test/acc"] for seed in (1, 2, 3, 42)]
    assert min(accuracies) >= 0.50, accuracies


def test_lstm_beats_the_average_on_a_small_negation_set(run):
    small = ["data.n_train=400", "data.n_val=50", "data.n_test=200", "trainer.max_epochs=5"]
    v1 = run("experiment=negation_v1", *small)[0]["test/acc"]
    v2 = run("experiment=negation_v2", *small, "model.net.hidden_size=32", "model.optimizer.lr=0.01")[0]["test/acc"]
    assert v1 < 0.65 and v2 > 0.9, (v1, v2)


@pytest.mark.slow
def test_lstm_beats_the_average_on_the_negation_set(run):
    """The experiments as configured (v2 at the course's sizes: 2 x LSTM(128), dropout 0.5)."""
    v1 = run("experiment=negation_v1")[0]["test/acc"]
    v2 = run("experiment=negation_v2")[0]["test/acc"]
    assert v1 < 0.65 and v2 >= 0.95, (v1, v2)
