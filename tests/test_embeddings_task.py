"""Word embeddings through the runner (dlzoo.tasks.embeddings, dlzoo.data.embeddings): accuracy on the planted
analogies, the vector files, the same updates as the plain trainers, exact resume, predictions and errors."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from dlzoo.callbacks import TorchThreads
from dlzoo.checkpoint import read_checkpoint
from dlzoo.config import compose, to_plain
from dlzoo.embeddings import corpus as corpus_module
from dlzoo.embeddings.corpus import Corpus
from dlzoo.embeddings.evaluate import evaluate_similarity
from dlzoo.embeddings.glove import RowAdaGrad, cooccurrence, glove_step, glove_tables, train_glove
from dlzoo.embeddings.planted import write_planted
from dlzoo.embeddings.sampling import Batch
from dlzoo.embeddings.vectors import load_vectors
from dlzoo.embeddings.word2vec import Word2Vec, cbow_step, sgns_step
from dlzoo.errors import DlzooError
from dlzoo.eval import evaluate
from dlzoo.models.glove import GloVe
from dlzoo.models.word2vec import CBOW, SkipGramNegSampling
from dlzoo.predict import predict
from dlzoo.tasks.base import build
from dlzoo.train import bind_net_to_data

QUIET = ["+trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
# Small enough for seconds, large enough to learn the relations (about 0.85 of the questions right; chance 0.002).
SGNS = ["experiment=word2vec_planted", "data.sentences_per_word=60", "model.net.dim=50", "model.optimizer.lr=0.1", *QUIET]
GLOVE = ["experiment=glove_planted", "data.sentences_per_word=200", "trainer.max_epochs=15", "model.net.dim=50",
         "model.optimizer.lr=0.1", *QUIET]
TINY = ["data.sentences_per_word=20", *QUIET]  # for properties that hold whatever the accuracy


def test_word2vec_on_the_planted_corpus(run, tmp_path):
    metrics, out = run(*SGNS)
    assert metrics["test/analogy_acc"] >= 0.75 and metrics["test/analogy_coverage"] == 1.0
    assert {f"test/analogy_{s}_acc" for s in ("gender", "royalty", "plural", "capital")} <= metrics.keys()
    assert metrics["epochs"] == 5.0
    ckpt = read_checkpoint(out / "checkpoints" / "last.ckpt")
    kv = load_vectors(out / "vectors.txt")  # word2vec text format, the words in vocabulary order
    assert kv.words == ckpt["dlzoo"]["data_state"]["words"]
    np.testing.assert_array_equal(kv.vectors, ckpt["state_dict"]["net.embedding.weight"].numpy())
    assert (out / "pca.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # predictions from the checkpoint alone: neighbours, an analogy, vector arithmetic
    cfg = compose([f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}", f"paths.output_dir={tmp_path / 'predict'}", "topn=3"],
                  config_name="predict")
    lines = predict(cfg, ["king", "man:woman::king", "king-man+woman", "Queen"])
    fields = [line.split("\t") for line in lines]
    assert fields[0][1:] == [f"{w} {c:.3f}" for w, c in kv.nearest("king", 3)]
    assert fields[1][1:] == [f"{w} {c:.3f}" for w, c in kv.analogy("man", "woman", "king", 3)]
    assert "queen" in fields[1][1] + fields[1][2] + fields[1][3]
    assert [f.split()[0] for f in fields[2][1:]] == [f.split()[0] for f in fields[1][1:]]  # woman - man + king
    assert fields[3][0] == "Queen" and fields[3][1:] == [f"{w} {c:.3f}" for w, c in kv.nearest("queen", 3)]
    for bad in ("zzz", "man:woman::", "king-zzz"):
        with pytest.raises(DlzooError, match="vocabulary|analogy reads"):
            predict(cfg, [bad])

    # dlzoo-eval rebuilds the evaluation from the checkpoint and reproduces the run's figure
    evaluated = evaluate(compose([f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}",
                                  f"paths.output_dir={tmp_path / 'eval'}"], config_name="eval"))
    assert evaluated["test/analogy_acc"] == metrics["test/analogy_acc"]

    # the same corpus and questions as files: streamed from disk, trained to the same vectors bit for bit
    corpus, questions = write_planted(tmp_path / "planted", sentences_per_word=60, seed=0)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# word1 word2 score\nking queen 9\nking apple 1\nparis france 8\nman zzz 5\napple banana 7\n")
    text_metrics, text_out = run(*SGNS, "data=text_corpus", f"data.path={corpus}", f"data.questions={questions}",
                                 f"data.similarity={pairs}")
    np.testing.assert_array_equal(load_vectors(text_out / "vectors.txt").vectors, kv.vectors)
    assert text_metrics["test/analogy_acc"] == metrics["test/analogy_acc"]
    assert text_metrics["test/similarity_coverage"] == pytest.approx(4 / 5)  # "zzz" is unknown
    assert text_metrics["test/similarity_spearman"] == pytest.approx(evaluate_similarity(kv, pairs).spearman)


def test_glove_on_the_planted_corpus(run):
    metrics, out = run(*GLOVE)
    assert metrics["test/analogy_acc"] >= 0.75 and metrics["test/analogy_coverage"] == 1.0
    state = read_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    kv = load_vectors(out / "vectors.txt")
    assert not (out / "vectors.txt").read_text().split("\n", 1)[0].replace(" ", "").isdigit()  # GloVe: no header
    np.testing.assert_array_equal(kv.vectors, ((state["net.w.weight"] + state["net.w_tilde.weight"]) / 2).numpy())


def test_skipgram_full_softmax_by_autograd(run):
    metrics, _ = run(*SGNS, "data.sentences_per_word=30", "trainer.max_epochs=2",
                     "model.net._target_=dlzoo.models.word2vec.SkipGramSoftmax",
                     "model.optimizer._target_=torch.optim.Adam", "model.optimizer.lr=0.02")
    assert metrics["test/analogy_acc"] >= 0.5


def test_step_losses_are_the_modules_losses():
    # the loss the task logs is eq. 4 / the CBOW loss / J of the nn.Modules, before the step
    torch.manual_seed(0)
    v, d = 12, 6
    batch = Batch(torch.tensor([0, 3, 0, 5]), torch.tensor([0, 0, 1, 1, 1, 2, 3]), torch.tensor([1, 2, 1, 4, 6, 7, 1]),
                  torch.randint(8, v, (4, 3)))  # no negative equals a positive
    sgns, cbow = SkipGramNegSampling(v, d), CBOW(v, d)
    for model in (sgns, cbow):
        with torch.no_grad():
            model.embedding.weight.normal_()
            model.output.weight.normal_()
    w_in, w_out = sgns.embedding.weight.detach().clone(), sgns.output.weight.detach().clone()
    loss = sgns_step(w_in, w_out, batch, 0.1, with_loss=True)
    torch.testing.assert_close(loss, sgns(*batch.pairs()).detach())
    assert sgns_step(w_in, w_out, batch, 0.1) is None
    w_in, w_out = cbow.embedding.weight.detach().clone(), cbow.output.weight.detach().clone()
    loss = cbow_step(w_in, w_out, batch, 0.1, with_loss=True)
    torch.testing.assert_close(loss, cbow(batch.windows(2), batch.centers, batch.negatives).detach())

    glove = GloVe(v, d)
    i, j, x = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 2, 3, 0]), torch.tensor([1.0, 0.5, 3.0, 150.0])
    expected = glove(i, j, x).detach()
    loss = glove_step(glove, [RowAdaGrad(t.data, 0.05) for t in glove_tables(glove)], i, j, x)
    torch.testing.assert_close(loss, expected)
    assert glove(i, j, x) < expected  # and the step lowered it


def test_a_one_line_corpus_streams_block_by_block(tmp_path, monkeypatch):
    # text8 is one 100 MB line: read in blocks cut at whitespace, it gives the sentences whole-line reading gives
    words = [f"w{k % 37}" for k in range(5000)]
    path = tmp_path / "one_line.txt"
    path.write_text(" ".join(words) + "  tail\nsecond line\nlast", encoding="utf-8")
    monkeypatch.setattr(corpus_module, "READ_BLOCK", 7)  # blocks end inside words
    sentences = list(Corpus(path, max_sentence_length=1000))
    assert sentences == [words[k:k + 1000] for k in range(0, 5000, 1000)] + [["tail"], ["second", "line"], ["last"]]


def _fit_one_epoch(tmp_path, overrides: list[str], seed: int = 3):
    """The runner's data module and task, built from the config, trained for one epoch by Lightning; returns
    them with the initial state_dict. The task is built under torch.manual_seed(seed), as train_glove does."""
    cfg = compose([f"paths.output_dir={tmp_path}", "logger=none", f"data.seed={seed}", *overrides])
    datamodule = build(to_plain(cfg.data))
    datamodule.setup("fit")
    bind_net_to_data(cfg.model.net, datamodule.net_sizes(), "model", "data")
    torch.manual_seed(seed)
    task = build(to_plain(cfg.model), _recursive_=False)
    task.run_metadata = {"data_state": datamodule.checkpoint_metadata()}
    initial = {name: t.clone() for name, t in task.state_dict().items()}
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[TorchThreads(1)], default_root_dir=tmp_path)
    trainer.fit(task, datamodule=datamodule)
    return datamodule, task, initial


@pytest.mark.parametrize("model, sg", [("word2vec_sgns", True), ("word2vec_cbow", False)])
def test_word2vec_task_applies_the_plain_trainers_steps(tmp_path, model, sg):
    dm, task, initial = _fit_one_epoch(tmp_path, ["experiment=word2vec_planted", f"model={model}", *TINY])
    h = task.hparams
    plain = Word2Vec(dim=h.net["dim"], window=dm.window, negative=dm.negative, min_count=dm.min_count,
                     sample=dm.sample, epochs=1, sg=sg, lr=h.optimizer["lr"], min_lr=h.min_lr,
                     batch_size=dm.batch_size, chunk_words=dm.chunk_words, workers=1, seed=dm.seed)
    plain.build_vocab(dm.corpus)
    assert plain.vocab.words == dm.vocab.words
    plain.w_in, plain.w_out = initial["net.embedding.weight"].clone(), initial["net.output.weight"].clone()
    plain.train(dm.corpus)
    assert not torch.equal(plain.w_in, initial["net.embedding.weight"])
    assert torch.equal(task.net.embedding.weight, plain.w_in)  # every step of the epoch, bit for bit
    assert torch.equal(task.net.output.weight, plain.w_out)


def test_glove_task_applies_the_plain_trainers_steps(tmp_path):
    dm, task, initial = _fit_one_epoch(tmp_path, ["experiment=glove_planted", *TINY], seed=3)
    assert not torch.equal(task.net.w.weight, initial["net.w.weight"])
    h = task.hparams
    x = cooccurrence(dm.corpus, dm.vocab, dm.window, dm.symmetric)
    _, plain, _ = train_glove(x, dm.vocab.words, dim=h.net["dim"], epochs=1, lr=h.optimizer["lr"],
                              x_max=h.net["x_max"], alpha=h.net["alpha"], batch_size=dm.batch_size, seed=3)
    for name in ("w", "w_tilde", "b", "b_tilde"):
        assert torch.equal(getattr(task.net, name).weight, getattr(plain, name).weight), name


@pytest.mark.parametrize("experiment", ["word2vec_planted", "glove_planted"])
def test_resume_continues_exactly(run, experiment):
    # word2vec's rate falls over trainer.max_epochs, so a resumed run must keep max_epochs: stop after epoch 1
    # of 3 (the checkpoint of every epoch kept), resume, and meet the uninterrupted run's final state.
    args = [f"experiment={experiment}", *TINY, "trainer.max_epochs=3"]
    every = ["callbacks.last_checkpoint.save_top_k=-1", "callbacks.last_checkpoint.filename='e{epoch}'",
             "+callbacks.last_checkpoint.auto_insert_metric_name=false"]
    _, straight = run(*args, *every, folder="straight")
    _, resumed = run(*args, f"ckpt_path={straight / 'checkpoints' / 'e0.ckpt'}", folder="resumed")
    a = read_checkpoint(straight / "checkpoints" / "e2.ckpt")
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")
    assert a["epoch"] == b["epoch"] == 2 and a["global_step"] == b["global_step"] > 0
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    for state_a, state_b in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert torch.equal(state_a["sum"], state_b["sum"])  # GloVe's AdaGrad accumulators (none for SGD)


@pytest.mark.parametrize("experiment", ["word2vec_planted", "glove_planted"])
def test_mixed_precision_leaves_the_updates_in_float32(run, experiment):
    # bf16-mixed (trainer=gpu's precision) autocasts the training step; the hand-written updates opt out
    _, out = run(f"experiment={experiment}", *TINY, "trainer.max_epochs=1", "trainer.precision=bf16-mixed")
    state = read_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in state.values())


@pytest.mark.parametrize("overrides, message", [
    (["experiment=word2vec_planted", "model=glove"], "set data.objective=glove"),
    (["experiment=glove_planted", "model=word2vec_cbow"], "set data.objective=word2vec"),
    (["experiment=word2vec_planted", "model.optimizer._target_=torch.optim.Adam"], "must be torch.optim.SGD"),
    (["experiment=glove_planted", "model.optimizer._target_=torch.optim.SGD"], "must be torch.optim.Adagrad"),
    (["experiment=word2vec_planted", "+model.scheduler._target_=torch.optim.lr_scheduler.StepLR",
      "+model.scheduler._partial_=true", "+model.scheduler.step_size=1"], "model.scheduler=null"),
    (["experiment=word2vec_planted", "data.objective=cbow"], "data.objective must be one of"),
    (["experiment=word2vec_text", "data.path=/nonexistent/corpus.txt"], "data file not found: /nonexistent/corpus.txt"),
])
def test_mismatched_configs_fail_readably(run, overrides, message):
    with pytest.raises(DlzooError, match=message):
        run(*overrides, "debug=fdr", "data.sentences_per_word=5")
