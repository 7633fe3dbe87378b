"""Language models and sequence taggers: data splits and vocabulary, the loss, sampling, the sample command,
the course's smoothed loss, and a bidirectional tagger beating a unidirectional one where right context matters."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from dlzoo.checkpoint import read_checkpoint
from dlzoo.data.text import TextDataModule
from dlzoo.errors import DlzooError
from dlzoo.models.language_model import LanguageModel, generate, sample_next
from dlzoo.models.sequence_classifier import SequenceClassifier, SequenceTagger
from dlzoo.tasks.language_model import CourseSmoothedLoss, LanguageModelTask
from dlzoo.text import Vocab, collate_lm
from tests.conftest import REPO

NAMES = ["anna", "bob", "carla", "dan", "eve", "fritz", "gus", "hal", "ida", "jo", "kim", "lou", "max", "ned",
         "olga", "pia", "quinn", "rob", "sue", "tom"]
NET = {"_target_": "dlzoo.models.language_model.LanguageModel", "vocab_size": 12, "cell": "gru", "hidden_size": 16,
       "embed_dim": None, "impl": "scratch"}
SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1}


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n\n")  # a blank line, skipped
    return path


def test_lines_split_is_seeded_disjoint_and_vocab_comes_from_train(names_file):
    dm = TextDataModule(str(names_file), framing="lines", val_fraction=0.2, test_fraction=0.1, batch_size=4, seed=3)
    dm.setup()
    split = dm.split_indices
    assert [len(split[s]) for s in ("train", "val", "test")] == [14, 4, 2]
    assert sorted(sum(split.values(), [])) == list(range(len(NAMES)))  # disjoint and complete
    for name, indices in split.items():
        assert [s.tolist() for s in dm.datasets[name].sequences] == [
            dm.vocab.encode(NAMES[i], add_bos=True, add_eos=True) for i in indices]
    assert set(dm.vocab.itos[4:]) == set("".join(NAMES[i] for i in split["train"]))  # training characters only
    assert not set("".join(NAMES)) <= set(dm.vocab.itos)  # (so some held-out letters are <unk>)
    again = TextDataModule(str(names_file), framing="lines", val_fraction=0.2, test_fraction=0.1, seed=3)
    again.setup()
    assert again.vocab == dm.vocab and again.split_indices == split
    other = TextDataModule(str(names_file), framing="lines", val_fraction=0.2, test_fraction=0.1, seed=4)
    other.setup()
    assert other.split_indices != split
    assert dm.net_sizes() == {"vocab_size": (len(dm.vocab), (len(dm.vocab),))}
    assert dm.checkpoint_metadata() == {"vocab": dm.vocab.state_dict(), "level": "char", "lower": False, "framing": "lines"}


def test_stream_chunks_make_every_token_a_target_once(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 7
    (tmp_path / "t.txt").write_text(text)
    dm = TextDataModule(str(tmp_path / "t.txt"), seq_len=10, val_fraction=0.1, test_fraction=0.1, seed=0)
    dm.setup()
    chunks = [s for ds in dm.datasets.values() for s in ds.sequences]
    assert sum(len(c) - 1 for c in chunks) == len(text) - 1  # targets: every character but the first
    assert sorted(len(c) for c in chunks)[1:] == [11] * (len(chunks) - 1)  # all full but the file's last
    inputs, targets, lengths = next(iter(dm.train_dataloader()))
    assert inputs.shape == targets.shape == (len(dm.datasets["train"]), 10)  # 25 chunks < batch_size 64
    real = targets[:, :-1] != -100
    assert torch.equal(inputs[:, 1:][real], targets[:, :-1][real])  # targets are the inputs shifted by one


def test_missing_file_names_the_file_and_how_to_supply_it(tmp_path):
    dm = TextDataModule(str(tmp_path / "absent.txt"))
    with pytest.raises(DlzooError, match=r"absent\.txt.*data\.path="):
        dm.setup()


@pytest.mark.parametrize("reduction", ["token_mean", "sequence_sum"])
def test_loss_is_cross_entropy_over_real_tokens_only(names_file, reduction):
    torch.manual_seed(0)
    task = LanguageModelTask({**NET, "vocab_size": 30}, SGD, loss_reduction=reduction)
    vocab = Vocab.build(NAMES)
    seqs = [vocab.encode(name, add_bos=True, add_eos=True) for name in ["anna", "bob", "fritz"]]
    loss = task.training_step(collate_lm(seqs), 0)
    per_sequence = []  # each name alone, unpadded, through a plain cross-entropy
    for s in seqs:
        x, y = torch.tensor(s[:-1])[None], torch.tensor(s[1:])
        per_sequence.append(F.cross_entropy(task.net(x)[0][0], y, reduction="sum"))
    total = torch.stack(per_sequence)
    expected = total.sum() / sum(len(s) - 1 for s in seqs) if reduction == "token_mean" else total.mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(task.sequence_losses, total.detach())


def test_temperature_to_zero_is_greedy_and_top_k_stays_in_the_top_k():
    torch.manual_seed(0)
    logits = torch.randn(500, 20) * 3
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, 1e-3, generator=g), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 0.0), logits.argmax(-1))
    top3 = logits.topk(3, dim=-1).indices  # (500, 3)
    draws = torch.stack([sample_next(logits, 5.0, top_k=3, generator=g) for _ in range(20)], 1)  # (500, 20)
    assert bool((draws[..., None] == top3[:, None]).any(-1).all())  # never outside the top 3
    assert len(set(draws[0].tolist())) > 1  # and it does sample, not argmax
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, -1.0)


def test_greedy_generation_equals_argmax_of_the_full_forward():
    torch.manual_seed(1)
    model = LanguageModel(9, cell="lstm", hidden_size=8, num_layers=2, embed_dim=5, impl="scratch").eval()
    [row] = generate(model, [2, 5], n=1, max_len=12, eos_index=3, temperature=0.0)
    seq = [2, 5]
    for _ in range(len(row)):  # re-read the whole sequence at every step: no state carried
        seq.append(int(model(torch.tensor([seq]))[0][0, -1].argmax()))
        if seq[-1] == 3:
            break
    assert row == seq[2:]


def test_course_smoothed_loss_follows_the_course_formula():
    class Fake:
        sequence_losses = torch.tensor([10.0])

    class Trainer:
        is_global_zero = True

    callback = CourseSmoothedLoss(every=2, verbose=False)
    assert callback.loss == pytest.approx(7 * math.log(27))  # 23.07
    expected = 7 * math.log(27)
    for current in [10.0, 20.0, 30.0]:
        Fake.sequence_losses = torch.tensor([current])
        callback.on_train_batch_end(Trainer(), Fake(), None, None, 0)
        expected = 0.999 * expected + 0.001 * current
    assert callback.loss == pytest.approx(expected)
    assert [j for j, _ in callback.history] == [0, 2]


def test_sequence_classifier_reads_each_sequence_to_its_own_end():
    torch.manual_seed(0)
    model = SequenceClassifier(10, 3, embed_dim=4, hidden_size=6, bidirectional=True).eval()
    seqs = [[4, 5, 6, 7], [8, 9]]
    padded = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    batched = model(padded, torch.tensor([4, 2]))
    alone = torch.cat([model(torch.tensor([s])) for s in seqs])
    torch.testing.assert_close(batched, alone)


def test_bidirectional_tagger_beats_unidirectional_when_the_tag_needs_the_next_token():
    # tag of token t = parity of token t+1 (the last token: 0); only the backward direction can see it
    torch.manual_seed(0)
    tokens = torch.randint(1, 10, (512, 10))
    tags = torch.cat([tokens[:, 1:] % 2, torch.zeros(512, 1, dtype=torch.long)], 1)
    accuracy, threads = {}, torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: a second thread only waits (many times slower on a busy CPU)
    for bidirectional in (False, True):
        torch.manual_seed(0)
        model = SequenceTagger(10, 2, embed_dim=8, hidden_size=16, cell="gru", bidirectional=bidirectional, impl="torch")
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for step in range(40):
            batch = slice((step % 8) * 64, (step % 8 + 1) * 64)
            loss = F.cross_entropy(model(tokens[batch]).transpose(1, 2), tags[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accuracy[bidirectional] = float((model(tokens).argmax(-1) == tags).float().mean())
    torch.set_num_threads(threads)
    assert accuracy[True] > 0.97
    assert accuracy[False] < 0.65  # at best 0.55: chance on the 9 positions whose tag it cannot see yet


def test_trains_samples_and_dlzoo_sample_works_from_the_checkpoint(run, names_file, tmp_path):
    metrics, out = run(
        "model=language_model", "data=names", f"data.path={names_file}", "data.batch_size=4", "trainer.max_epochs=2",
        "model.net.hidden_size=16", "model.net.embed_dim=8", "model.n_samples=4", "model.max_len=12",
        "+callbacks.threads._target_=dlzoo.callbacks.TorchThreads",  # tiny matrices: one thread is faster
    )
    assert {"train/loss", "val/loss", "test/loss", "val/ppl", "val/bits"} <= metrics.keys()
    assert metrics["val/ppl"] == pytest.approx(math.exp(metrics["val/loss"]), rel=1e-5)
    assert metrics["val/bits"] == pytest.approx(metrics["val/loss"] / math.log(2), rel=1e-5)
    samples = (out / "samples.txt").read_text().splitlines()
    assert len(samples) == 4 and all(len(s) <= 12 for s in samples)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "dlzoo.predict", f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", "n=5",
           "temperature=0", "prompt=ma", "max_len=8", f"hydra.run.dir={tmp_path / 'pred'}"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()[-5:]
    assert len(set(lines)) == 1 and lines[0].startswith("ma")  # temperature 0: five identical greedy samples
    assert (tmp_path / "pred" / "predictions.txt").read_text().splitlines() == lines


def test_carried_state_is_checkpointed_so_a_resumed_run_continues_exactly(run, names_file):
    """carry_state: each batch starts from the previous one's final state, across epochs too, so last.ckpt holds
    it; 2 epochs + resume equals 3 epochs straight, weights and Adam moments bit for bit."""
    args = ["model=language_model", "data=names", f"data.path={names_file}", "data.batch_size=4",  # 16 train names
            "model.carry_state=true", "model.net.hidden_size=8", "model.net.embed_dim=4", "model.net.dropout=0.2",
            "model.n_samples=0", "+callbacks.threads._target_=dlzoo.callbacks.TorchThreads"]
    _, straight = run(*args, "trainer.max_epochs=3", folder="straight")
    _, half = run(*args, "trainer.max_epochs=2", folder="half")
    ckpt = half / "checkpoints" / "last.ckpt"
    a_half, c_half = read_checkpoint(ckpt)["carried_state"]  # the LSTM's (a, c) after the last batch of 4
    assert a_half.shape == c_half.shape == (1, 4, 8) and bool(a_half.abs().sum() > 0)
    _, resumed = run(*args, "trainer.max_epochs=3", f"ckpt_path={ckpt}", folder="resumed")
    a, b = (read_checkpoint(out / "checkpoints" / "last.ckpt") for out in (straight, resumed))
    assert a["epoch"] == b["epoch"] == 2
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    moments = [list(ckpt["optimizer_states"][0]["state"].values()) for ckpt in (a, b)]
    assert len(moments[0]) == len(moments[1]) == len(a["state_dict"])
    for state_a, state_b in zip(*moments):
        assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])
        assert torch.equal(state_a["exp_avg_sq"], state_b["exp_avg_sq"])
    assert all(torch.equal(x, y) for x, y in zip(a["carried_state"], b["carried_state"]))


@pytest.mark.slow
def test_c5w1_dinos_reaches_the_course_smoothed_loss_by_iteration_22000(run, data_dir):
    if not (data_dir / "course" / "dinos.txt").is_file():
        pytest.skip("course/dinos.txt not found under DLZOO_DATA_DIR")
    metrics, out = run("experiment=c5w1_dinos", "trainer.max_steps=22001")
    assert metrics["train/smoothed_loss_22000"] <= 22.8  # the course: 22.73
    assert len((out / "samples.txt").read_text().splitlines()) == 7


def test_tagging_task_through_the_runner_bidirectional_beats_unidirectional(run):
    args = ["experiment=next_parity_birnn", "data.n_train=640", "data.n_val=200", "data.n_test=200", "trainer.max_epochs=3"]
    bi, _ = run(*args)
    uni, _ = run(*args, "model.net.bidirectional=false")
    assert bi["test/acc"] > 0.95
    assert uni["test/acc"] < 0.65  # at best about 0.55 (chance where the next token decides)
