"""Sequence-to-sequence in the runner: the date and TSV data modules, the task's loss masking and metrics,
translations from a checkpoint in a fresh process, and (slow) the C5W3 date-translation bar."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import lightning as L
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("faker", reason="faker generates the dates")
pytest.importorskip("babel", reason="babel renders the dates")

from dlzoo.config import compose  # noqa: E402
from dlzoo.data.dates import ParallelTextDataset, build_vocabs, collate_parallel, generate_dates  # noqa: E402
from dlzoo.data.seq2seq import EXAMPLE_DATES, DatesDataModule, ParallelTSVDataModule  # noqa: E402
from dlzoo.errors import DlzooError  # noqa: E402
from dlzoo.eval import load_task  # noqa: E402
from dlzoo.ops.beam_search import beam_search, greedy_decode  # noqa: E402
from dlzoo.ops.bleu import corpus_bleu, exact_match, token_accuracy  # noqa: E402
from dlzoo.tasks.seq2seq import Seq2SeqTask  # noqa: E402
from dlzoo.text import Vocab, WordTokenizer, pad_batch  # noqa: E402

# The attention experiment on a few hundred dates, for one epoch: seconds, not minutes.
TINY = ["experiment=c5w3_dates_attention", "data.n_train=200", "data.n_val=40", "data.n_test=40",
        "data.batch_size=20", "trainer.max_epochs=1", "model.beam_size=2"]
IDS = dict(bos_id=Vocab.bos_index, eos_id=Vocab.eos_index, pad_id=Vocab.pad_index)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the date experiments run (dlzoo.callbacks.TorchThreads): faster for these small
    recurrent models, and far faster on a CPU shared with other processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_task(src_vocab: Vocab, tgt_vocab: Vocab, **options) -> Seq2SeqTask:
    torch.manual_seed(0)
    net = {"_target_": "dlzoo.models.seq2seq.build_seq2seq", "src_vocab_size": len(src_vocab),
           "tgt_vocab_size": len(tgt_vocab), "attention": "course", "attention_hidden": 10, "feed_previous": True}
    return Seq2SeqTask(net, {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.005}, **options)


# ---- data modules ---------------------------------------------------------------------------------------------
def test_dates_data_module_vocab_splits_and_determinism():
    dm = DatesDataModule(n_train=300, n_val=60, n_test=80, data_seed=3, batch_size=32)
    dm.setup()
    train = dm.pairs["train"]
    assert train == generate_dates(300, seed=3)
    assert [len(dm.pairs[name]) for name in ("train", "val", "test")] == [300, 60, 80]
    # vocabularies from the training split alone, the course's sorted characters
    assert (dm.src_vocab, dm.tgt_vocab) == build_vocabs(train)
    assert dm.net_sizes() == {"src_vocab_size": (len(dm.src_vocab), (len(dm.src_vocab),)),
                              "tgt_vocab_size": (15, (15,))}
    # held out: no source of one split occurs in another
    sources = {name: {src for src, _ in pairs} for name, pairs in dm.pairs.items()}
    assert not sources["train"] & sources["val"] and not sources["train"] & sources["test"]
    assert not sources["val"] & sources["test"]
    # the checkpoint metadata is plain and gives back the vocabularies
    meta = json.loads(json.dumps(dm.checkpoint_metadata()))
    assert Vocab.from_state_dict(meta["src_vocab"]) == dm.src_vocab and meta["max_target_len"] == 11
    codec = DatesDataModule().codec(meta)  # as dlzoo-translate rebuilds it, without generating data
    src, lengths = codec.encode_sources(["3 May, 1979"])
    assert "".join(dm.src_vocab.decode(src[0])) == "3 may 1979" and lengths.tolist() == [10]
    # the same data for any shuffling seed; the same batches for the same seed, another order next epoch
    same = DatesDataModule(n_train=300, n_val=60, n_test=80, data_seed=3, batch_size=32, seed=0)
    other = DatesDataModule(n_train=300, n_val=60, n_test=80, data_seed=3, batch_size=32, seed=1)
    same.setup()
    other.setup()
    assert same.pairs == other.pairs == dm.pairs
    first = [next(iter(m.train_dataloader()))[0] for m in (dm, same, other)]
    assert torch.equal(first[0], first[1]) and not torch.equal(first[0], first[2])
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(1)
    assert not torch.equal(next(iter(loader))[0], first[0])
    assert set(dm.eval_dataloaders()) == {"train", "val", "test"} and dm.has_validation
    assert dm.example_sources() == EXAMPLE_DATES


def write_tsv(path, n: int = 80) -> list[tuple[str, str]]:
    """Words and their reversals: a toy translation task."""
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 6))) for _ in range(n)]
    pairs = [(w, w[::-1]) for w in words]
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return pairs


def test_tsv_data_module_splits_and_unseen_tokens(tmp_path):
    pairs = write_tsv(tmp_path / "pairs.tsv")
    dm = ParallelTSVDataModule(path=str(tmp_path / "pairs.tsv"), val_fraction=0.1, test_fraction=0.2, batch_size=8)
    dm.setup()
    assert [len(dm.pairs[name]) for name in ("train", "val", "test")] == [56, 8, 16]
    assert sorted(dm.pairs["train"] + dm.pairs["val"] + dm.pairs["test"]) == sorted(pairs)
    assert dm.src_vocab == Vocab.build(src for src, _ in dm.pairs["train"])
    # word level; a held-out target word the training data never had is <unk>, not an error
    (tmp_path / "train.tsv").write_text("the cat\tle chat\nthe dog\tle chien\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("the cat\tle chat noir\n", encoding="utf-8")
    words = ParallelTSVDataModule(path=str(tmp_path / "train.tsv"), test_path=str(tmp_path / "test.tsv"),
                                  val_fraction=0.0, tokenize="word")
    words.setup()
    assert words.tgt_vocab.itos[4:] == ["le", "chat", "chien"] and not words.has_validation
    tgt, itos = words.datasets["test"][0][1].tolist(), words.tgt_vocab.itos
    assert [itos[i] for i in tgt] == ["<bos>", "le", "chat", "<unk>", "<eos>"]
    assert isinstance(words.tokenizer, WordTokenizer)
    with pytest.raises(DlzooError, match=r"parallel text file not found: 'missing.tsv' in folder .*data.path="):
        ParallelTSVDataModule(path=str(tmp_path / "missing.tsv")).setup()
    with pytest.raises(DlzooError, match="needs data.path"):
        ParallelTSVDataModule(path="???")


def test_tsv_trains_through_the_runner(run, tmp_path):
    write_tsv(tmp_path / "pairs.tsv")
    metrics, out = run("model=seq2seq_attention", "data=parallel_tsv", f"data.path={tmp_path / 'pairs.tsv'}",
                       "data.batch_size=16", "trainer.max_epochs=1")
    assert {f"{split}/{m}" for split in ("train", "val", "test") for m in ("acc", "token_acc", "bleu", "loss")} <= metrics.keys()
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["dlzoo"]["data_state"]
    same = ParallelTSVDataModule(path=str(tmp_path / "pairs.tsv"))  # data.parallel_tsv's split defaults
    same.setup()
    assert Vocab.from_state_dict(state["src_vocab"]) == Vocab.build(src for src, _ in same.pairs["train"])
    assert Vocab.from_state_dict(state["tgt_vocab"]) == same.tgt_vocab
    with pytest.raises(DlzooError, match="parallel text file not found: 'nope.tsv'"):
        run("model=seq2seq_attention", "data=parallel_tsv", f"data.path={tmp_path / 'nope.tsv'}")


# ---- the task -------------------------------------------------------------------------------------------------
def varied_pairs() -> tuple[list[tuple[str, str]], Vocab, Vocab]:
    pairs = [("ab", "1"), ("abc de", "12-3"), ("e", "3-2-1-0"), ("dd cc bb", "00")]
    src_vocab, tgt_vocab = build_vocabs(pairs)
    return pairs, src_vocab, tgt_vocab


def test_loss_is_masked_on_padding():
    pairs, src_vocab, tgt_vocab = varied_pairs()
    task = make_task(src_vocab, tgt_vocab)
    items = list(ParallelTextDataset(pairs, src_vocab, tgt_vocab))
    batch = collate_parallel(items)
    loss, tgt_out = task.teacher_forced_loss(batch)
    # the same sentences one at a time: each sentence's summed cross-entropy, over all target tokens
    n_tokens = [len(tgt) - 1 for _, tgt in items]
    alone = [task.teacher_forced_loss(collate_parallel([item]))[0] * n for item, n in zip(items, n_tokens)]
    assert loss.item() == pytest.approx((sum(alone) / sum(n_tokens)).item(), rel=1e-5)
    assert int((tgt_out != 0).sum()) == sum(n_tokens)
    # more padding on both sides changes nothing
    src, src_lengths, tgt, tgt_lengths = batch
    wider = (F.pad(src, (0, 5)), src_lengths, F.pad(tgt, (0, 4)), tgt_lengths)
    assert task.teacher_forced_loss(wider)[0].item() == pytest.approx(loss.item(), rel=1e-6)


def known_predictions(tgt_out: torch.Tensor, digits: list[int]) -> torch.Tensor:
    """Predictions of four kinds, by row: the target; one digit wrong; ended early; one token too many."""
    preds = []
    for i, row in enumerate(tgt_out.tolist()):
        row = row[: row.index(Vocab.eos_index)]
        if i % 4 == 1:
            row[i % len(row)] = digits[(digits.index(row[i % len(row)]) + 1) % len(digits)]
        elif i % 4 == 2:
            row = row[: 3 + i % 5]
        elif i % 4 == 3:
            row = row + [digits[i % len(digits)]]
        preds.append(row + [Vocab.eos_index])
    return pad_batch(preds)[0]


def test_metrics_equal_the_reference_implementations_on_known_predictions():
    pairs = generate_dates(50, seed=5)
    src_vocab, tgt_vocab = build_vocabs(generate_dates(500, seed=0))
    task = make_task(src_vocab, tgt_vocab)
    dataset = ParallelTextDataset(pairs, src_vocab, tgt_vocab)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, collate_fn=collate_parallel)  # 16, 16, 16, 2
    digits = [tgt_vocab[c] for c in "0123456789"]
    batches = [known_predictions(batch[2][:, 1:], digits) for batch in loader]
    served = iter(batches)
    task.decode = lambda src, src_lengths, max_len, beam_size=1: next(served)  # the decoder's output, known
    task.eval_splits = ["test"]
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    metrics = trainer.test(task, dataloaders=loader, verbose=False)[0]

    all_src, all_lengths, all_tgt, _ = collate_parallel(list(dataset))
    width = max(b.shape[1] for b in batches)
    preds = torch.cat([F.pad(b, (0, width - b.shape[1])) for b in batches])  # (50, L)
    target = all_tgt[:, 1:]
    hyps = ["".join(tgt_vocab.decode(row)) for row in preds]
    refs = [tgt for _, tgt in pairs]
    expected_acc = exact_match(preds, target, 0)
    assert 0.0 < expected_acc < 1.0
    assert metrics["test/acc"] == pytest.approx(expected_acc, rel=1e-6)
    assert metrics["test/token_acc"] == pytest.approx(token_accuracy(preds, target, 0), rel=1e-6)
    assert metrics["test/bleu"] == pytest.approx(corpus_bleu(hyps, [refs], tokenize="char"), rel=1e-5)
    # the loss is the mean over every target token of the split, not a mean of batch means
    whole = task.teacher_forced_loss((all_src, all_lengths, all_tgt, None))[0]
    assert metrics["test/loss"] == pytest.approx(whole.item(), rel=1e-5)


def test_translations_from_a_checkpoint_in_a_fresh_process(run, tmp_path):
    torch.set_num_threads(2)
    metrics, out = run(*TINY)
    assert torch.get_num_threads() == 2  # the experiment's TorchThreads(1) gave the process's setting back
    torch.set_num_threads(1)
    assert {"test/acc", "test/beam_acc", "test/token_acc", "test/bleu", "test/beam_bleu", "val/acc"} <= metrics.keys()
    lines = (out / "translations.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "source\tgreedy\tbeam 2" and [line.split("\t")[0] for line in lines[1:]] == EXAMPLE_DATES
    from matplotlib.image import imread

    assert imread(out / "attention.png").shape[:2] == (400, 4 * 450)  # n_heatmaps=4 panels of 4.5 x 4 in, 100 dpi

    ckpt = out / "checkpoints" / "last.ckpt"
    inputs = ["3 May 1979", "Tue 10 Jul 2007", "March 3rd, 2001"]
    task, meta = load_task(str(ckpt))
    task.eval()
    src_vocab, tgt_vocab = (Vocab.from_state_dict(meta["data_state"][k]) for k in ("src_vocab", "tgt_vocab"))
    src, lengths = pad_batch([src_vocab.encode(s.lower().replace(",", "")) for s in inputs])
    greedy = greedy_decode(task.net, src, lengths, max_len=11, **IDS).tokens
    beam = beam_search(task.net, src, lengths, beam_size=3, max_len=11, alpha=0.7, **IDS).tokens[:, 0]
    expected = {name: [f"{s}\t{''.join(tgt_vocab.decode(row))}" for s, row in zip(inputs, tokens)]
                for name, tokens in (("greedy", greedy), ("beam", beam))}

    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "dlzoo.predict", f"ckpt_path={ckpt}", *inputs, "max_len=11",
         f"hydra.run.dir={tmp_path / 'pred'}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-3:] == expected["greedy"]
    assert (tmp_path / "pred" / "predictions.txt").read_text(encoding="utf-8").splitlines() == expected["greedy"]
    assert (tmp_path / "pred" / "attention.png").is_file()

    from dlzoo.predict import predict

    cfg = compose([f"ckpt_path={ckpt}", "beam=3", "max_len=11", f"paths.output_dir={tmp_path / 'beam'}"],
                  config_name="predict")
    assert predict(cfg, inputs) == expected["beam"]

    # dlzoo-eval rebuilds the data from the checkpoint's config and reproduces the run's metrics
    from dlzoo.eval import evaluate

    best = next((out / "checkpoints").glob("epoch_*.ckpt"))
    evaluated = evaluate(compose([f"ckpt_path={best}", f"paths.output_dir={tmp_path / 'eval'}"], config_name="eval"))
    for name in ("test/acc", "test/beam_acc", "test/token_acc", "test/bleu", "val/acc"):
        assert evaluated[name] == pytest.approx(metrics[name], rel=1e-6), name


def test_bad_task_options_are_clear_errors():
    _, src_vocab, tgt_vocab = varied_pairs()
    with pytest.raises(DlzooError, match="teacher_forcing_ratio"):
        make_task(src_vocab, tgt_vocab, teacher_forcing_ratio=1.5)
    with pytest.raises(DlzooError, match="beam_size"):
        make_task(src_vocab, tgt_vocab, beam_size=0)


# ---- the bar ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dates_attention_bar(tmp_path):
    """dlzoo-train experiment=c5w3_dates_attention: exact match >= 0.99 on 2,000 held-out dates, under 10
    minutes of wall time for the whole command (data generation, training, evaluation) on 2 CPU cores."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "dlzoo.train", "experiment=c5w3_dates_attention", "logger=none",
         f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=1200,
    )
    wall = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/acc"] >= 0.99, metrics
    assert wall < 600, f"{wall:.0f} s (load average {os.getloadavg()})"
