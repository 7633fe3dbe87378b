"""Word embeddings through the runner: word2vec (skip-gram or CBOW with negative sampling, skip-gram with a full
softmax) and GloVe, trained on dlzoo.data.embeddings.CorpusDataModule, then evaluated and written out.

Mikolov et al. 2013, "Distributed Representations of Words and Phrases and their Compositionality"
(arXiv:1310.4546), eq. 4; Pennington, Socher and Manning 2014, "GloVe", eq. 8. The updates are not written
here: each training step hands its batch to the one the plain trainers apply, so the runner and
``dlzoo.embeddings.Word2Vec`` / ``fit_glove`` train by the same code (manual optimization, no autograd):

- negative sampling (``net`` SkipGramNegSampling or CBOW): ``dlzoo.embeddings.word2vec.train_step``,
  word2vec.c's SGD on ``net.embedding`` (E) and ``net.output`` (theta) in place, the learning rate falling
  linearly from the optimizer's ``lr`` to ``min_lr`` over the ``trainer.max_epochs`` passes. ``model.optimizer``
  must be torch.optim.SGD without momentum or weight decay, the update applied; it holds no state.
- GloVe (``net`` dlzoo.models.glove.GloVe): ``dlzoo.embeddings.glove.glove_step``, AdaGrad on the rows a batch
  touches. ``model.optimizer`` must be torch.optim.Adagrad without lr_decay or weight decay; its
  ``state["sum"]`` is the accumulator G the step updates, so checkpoints hold it.
- full softmax (``net`` SkipGramSoftmax, O(V) a pair, for small vocabularies): ordinary autograd on the mean
  cross-entropy of the batch's pairs, any optimizer and scheduler.
In the manual cases the torch optimizer's ``step`` is still called, with the update as its closure, so that
Lightning counts the steps (global_step, max_steps); it finds no gradient and changes nothing itself. The
updates run outside autocast, in the tables' dtype: ``trainer=gpu`` (bf16-mixed) leaves them in float32.

``train/loss`` is the epoch's exact mean, taken before each update: eq. 4 per pair (skip-gram), per centre (CBOW),
cross-entropy per pair (softmax), f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 per entry (GloVe).
A resumed run continues exactly: the weights, the AdaGrad sums and the epoch (which seeds the data's draws
and sets the learning rate) are in the checkpoint. word2vec's rate is scheduled over ``trainer.max_epochs``, so
resume with the value the run started with; a larger one is a different schedule, not a continuation.

After training the run folder gets ``vectors.txt`` (word2vec text format; ``save_format`` glove or
word2vec_binary -> ``vectors.bin``) and ``pca.png`` (or ``tsne.png``) of the data's plot words. The test split
is intrinsic evaluation: ``test/analogy_acc`` (3CosAdd over unit vectors, questions with unknown words left
out), ``test/analogy_coverage`` (the share of questions counted), ``test/analogy_<section>_acc``, and with a
similarity file ``test/similarity_spearman`` and ``test/similarity_coverage``.

``dlzoo-predict ckpt_path=<run>/checkpoints/last.ckpt king man:woman::king king-man+woman topn=5`` prints one
line a query: a word's nearest neighbours, an analogy a:b::c ("a is to b as c is to ?", the course's
order), or the words nearest to a sum of unit vectors; a query's own words are never answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from dlzoo.embeddings.evaluate import evaluate_analogies, evaluate_similarity
from dlzoo.embeddings.glove import RowAdaGrad, glove_step, glove_tables
from dlzoo.embeddings.plot import plot_words
from dlzoo.embeddings.sampling import Batch
from dlzoo.embeddings.vectors import KeyedVectors, save_glove, save_word2vec
from dlzoo.embeddings.word2vec import train_step
from dlzoo.errors import DlzooError
from dlzoo.models.glove import GloVe
from dlzoo.models.word2vec import CBOW, SkipGramNegSampling, SkipGramSoftmax
from dlzoo.tasks.base import TaskModule

SAVE_FORMATS = {"word2vec": "vectors.txt", "glove": "vectors.txt", "word2vec_binary": "vectors.bin"}
_EXPRESSION = re.compile(r"([+-]?)([^+-]+)")


class EmbeddingTask(TaskModule):
    """What word2vec and GloVe share: the epoch's loss, evaluation, vector files and predictions.

    Args:
        net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``.
        save_format: the vector file written after training: word2vec (text), word2vec_binary or glove.
        plot_method: pca or tsne, the picture of the data's plot words.
    """

    objective = ""  # the data.objective this task trains on

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        save_format: str = "word2vec",
        plot_method: str = "pca",
        **task_options: Any,
    ) -> None:
        if save_format not in SAVE_FORMATS:
            raise DlzooError(f"model.save_format must be one of {list(SAVE_FORMATS)}, got {save_format!r}")
        if plot_method not in ("pca", "tsne"):
            raise DlzooError(f"model.plot_method must be 'pca' or 'tsne', got {plot_method!r}")
        super().__init__(net, optimizer, scheduler, scheduler_interval, save_format=save_format,
                         plot_method=plot_method, **task_options)
        self.automatic_optimization = False
        self._loss_sum: Tensor | None = None  # summed loss of the epoch's examples
        self._loss_count = 0

    # ---- what a subclass gives ---------------------------------------------------------------------------
    def vectors(self) -> Tensor:
        """(V, D) the embeddings kept."""
        raise NotImplementedError

    # ---- training ------------------------------------------------------------------------------------------
    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        objective = getattr(datamodule, "objective", None)
        if objective != self.objective:
            raise DlzooError(f"model '{model_name}' trains on {self.objective} data but data '{data_name}' serves "
                             f"{objective!r}: set data.objective={self.objective}")
        words, net_words = len(datamodule.vocab), self.net.vocab_size
        if words != net_words:
            raise DlzooError(f"model '{model_name}' has vocab_size {net_words} but data '{data_name}' has {words} words")

    def _manual_step(self, update: Callable[[], Tensor], batch_idx: int, count: int) -> None:
        """Run ``update`` (returning the batch's summed loss) as the optimizer step's closure, then record it.
        Outside autocast: the hand-written updates run in the tables' dtype under any trainer.precision."""
        losses = []

        def closure() -> None:
            with torch.autocast(self.device.type, enabled=False):
                losses.append(update())

        self.optimizers().step(closure=closure)
        self._record(losses[0], count, batch_idx)

    def _record(self, loss_sum: Tensor, count: int, batch_idx: int) -> None:
        self.check_finite(loss_sum / count, batch_idx)
        self._loss_sum = loss_sum if self._loss_sum is None else self._loss_sum + loss_sum
        self._loss_count += count

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            self.log("train/loss", self._loss_sum / self._loss_count, prog_bar=True, sync_dist=True)
        self._loss_sum, self._loss_count = None, 0

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint loaded on its own (dlzoo-predict, dlzoo-eval) keeps the vocabulary it was trained with.
        if not self.run_metadata:
            self.run_metadata = {k: v for k, v in checkpoint.get("dlzoo", {}).items() if k != "task"}

    # ---- the vectors ----------------------------------------------------------------------------------------
    def keyed_vectors(self) -> KeyedVectors:
        words = (self.run_metadata.get("data_state") or {}).get("words")
        if words is None:
            raise DlzooError("this model has no vocabulary (data_state.words, stored by dlzoo-train in the checkpoint)")
        return KeyedVectors(words, self.vectors().detach().float().cpu().numpy())

    def on_train_end(self) -> None:
        """Write the vectors and the picture of the plot words into the run folder."""
        if not self.trainer.is_global_zero or "words" not in (self.run_metadata.get("data_state") or {}):
            return
        run_dir = Path(self.trainer.default_root_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        kv, fmt = self.keyed_vectors(), self.hparams.save_format
        path = run_dir / SAVE_FORMATS[fmt]
        if fmt == "glove":
            save_glove(kv, path)
        else:
            save_word2vec(kv, path, binary=fmt == "word2vec_binary")
        message = f"[dlzoo] {len(kv)} word vectors of {kv.dim} dims ({fmt} format): {path}"
        words = self.run_metadata["data_state"].get("plot_words") or []
        if len(words) >= 3:
            picture = run_dir / f"{self.hparams.plot_method}.png"
            plot_words(kv, words, picture, self.hparams.plot_method)
            message += f"; {len(words)} words drawn in {picture}"
        print(message, flush=True)

    # ---- evaluation -----------------------------------------------------------------------------------------
    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        split, kv = self.eval_splits[dataloader_idx], self.keyed_vectors()
        log = dict(batch_size=1, add_dataloader_idx=False, sync_dist=True)
        if batch["analogies"]:
            score = evaluate_analogies(kv, batch["analogies"])
            self.log(f"{split}/analogy_acc", score.accuracy, prog_bar=True, **log)
            self.log(f"{split}/analogy_coverage", score.counted / (score.counted + score.skipped), **log)
            for section, (correct, counted) in score.sections.items():
                if counted:
                    name = re.sub(r"\s+", "_", section)
                    self.log(f"{split}/analogy_{name}_acc", correct / counted, **log)
        if batch["similarity"]:
            try:
                similarity = evaluate_similarity(kv, batch["similarity"])
            except ValueError as err:  # too few known pairs: no figure rather than a meaningless one
                print(f"[dlzoo] no similarity score: {err}", flush=True)
                return
            self.log(f"{split}/similarity_spearman", similarity.spearman, **log)
            self.log(f"{split}/similarity_coverage", similarity.pairs / (similarity.pairs + similarity.oov_pairs), **log)

    # ---- predictions ----------------------------------------------------------------------------------------
    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """One line a query: ``word`` (its nearest neighbours), ``a:b::c`` (a is to b as c is to ?) or
        ``king-man+woman`` (the words nearest to that sum of unit vectors): the query, then ``topn`` words
        with their cosines, tab-separated."""
        if not inputs:
            raise DlzooError("give words to look up, e.g. dlzoo-predict ckpt_path=... king man:woman::king king-man+woman")
        topn = int(cfg.get("topn", 10))
        if topn < 1:
            raise DlzooError(f"topn must be >= 1, got {topn}")
        kv = self.keyed_vectors()
        lines = []
        for query in inputs:
            answers = self.query(kv, query.strip(), topn)
            lines.append(query + "\t" + "\t".join(f"{word} {cos:.3f}" for word, cos in answers))
        return lines

    @staticmethod
    def query(kv: KeyedVectors, query: str, topn: int) -> list[tuple[str, float]]:
        def known(word: str) -> str:
            for candidate in (word, word.lower()):
                if candidate in kv:
                    return candidate
            raise DlzooError(f"{word!r} is not in the vocabulary of this model ({len(kv)} words)")

        if query in kv or query.lower() in kv:
            return kv.nearest(known(query), topn)
        if "::" in query:
            left, _, right = query.partition("::")
            a, _, b = left.partition(":")
            c = right.split(":")[0]  # "a:b::c", "a:b::c:?" or "a:b::c:"
            if not (a and b and c):
                raise DlzooError(f"an analogy reads a:b::c (a is to b as c is to ?), got {query!r}")
            return kv.analogy(known(a), known(b), known(c), topn)
        terms = _EXPRESSION.findall(query)
        if len(terms) > 1 and "".join(sign + word for sign, word in terms) == query:
            words = [known(word) for _, word in terms]
            vector = sum((-1 if sign == "-" else 1) * kv.unit[kv.index[w]] for (sign, _), w in zip(terms, words))
            return kv.nearest(vector, topn, exclude=words)
        raise DlzooError(f"{query!r} is not in the vocabulary of this model ({len(kv)} words)")


class Word2VecTask(EmbeddingTask):
    """word2vec on ``net`` SkipGramNegSampling (skip-gram), CBOW, or SkipGramSoftmax (autograd).

    Args:
        min_lr: where the learning rate ends (word2vec.c's 1e-4); it starts at ``model.optimizer.lr``.
        damp: bound the step of an output row many pairs of one batch push (dlzoo.embeddings.word2vec).
        (others: see ``EmbeddingTask``)
    """

    objective = "word2vec"

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        min_lr: float = 1e-4,
        damp: bool = True,
        save_format: str = "word2vec",
        plot_method: str = "pca",
        **task_options: Any,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, save_format, plot_method, min_lr=min_lr,
                         damp=damp, **task_options)
        if not isinstance(self.net, (SkipGramNegSampling, CBOW, SkipGramSoftmax)):
            raise DlzooError(f"Word2VecTask trains dlzoo.models.word2vec's SkipGramNegSampling, CBOW or "
                             f"SkipGramSoftmax, got {type(self.net).__name__}")
        self.automatic_optimization = isinstance(self.net, SkipGramSoftmax)
        if not self.automatic_optimization and scheduler is not None:
            raise DlzooError("negative sampling has its own schedule (lr falling linearly to model.min_lr): "
                             "set model.scheduler=null")
        self._scratch: Tensor | None = None
        self._total_words = 0.0

    def vectors(self) -> Tensor:
        return self.net.embedding.weight

    def configure_optimizers(self) -> Any:
        config = super().configure_optimizers()
        optimizer = config["optimizer"] if isinstance(config, dict) else config
        if not self.automatic_optimization:
            group = optimizer.param_groups[0]
            if type(optimizer) is not torch.optim.SGD or group["momentum"] or group["weight_decay"] or group["maximize"]:
                raise DlzooError(
                    "negative-sampling word2vec applies word2vec.c's plain SGD by hand: model.optimizer must be "
                    f"torch.optim.SGD without momentum or weight decay (its lr is the starting rate), got {optimizer}"
                )
        return config

    def on_train_start(self) -> None:
        if self.automatic_optimization:
            return
        epochs, datamodule = self.trainer.max_epochs, self.trainer.datamodule
        if epochs is None or epochs < 1:
            raise DlzooError("word2vec's learning rate falls to min_lr over trainer.max_epochs passes: "
                             f"set trainer.max_epochs >= 1 (got {epochs})")
        if not hasattr(datamodule, "words_per_epoch"):
            raise DlzooError("Word2VecTask needs dlzoo.data.embeddings.CorpusDataModule (its words_per_epoch)")
        self._total_words = float(epochs * datamodule.words_per_epoch)
        self._scratch = torch.zeros(self.net.vocab_size, dtype=self.net.embedding.weight.dtype, device=self.device)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor | None:
        if self.automatic_optimization:  # the full softmax, by autograd
            center, context, _ = batch.pairs()
            loss = self.net(center, context)
            self._record(loss.detach() * len(context), len(context), batch_idx)
            return loss
        sg = isinstance(self.net, SkipGramNegSampling)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        count = len(batch.contexts) if sg else len(batch.centers)  # the loss is a mean over pairs / centres

        def update() -> Tensor:
            loss = train_step(self.net.embedding.weight.data, self.net.output.weight.data, batch, sg, lr,
                              self.hparams.min_lr, self._total_words, self.hparams.damp, self._scratch, with_loss=True)
            return loss * count

        self._manual_step(update, batch_idx, count)
        return None


class GloVeTask(EmbeddingTask):
    """GloVe on ``net`` dlzoo.models.glove.GloVe, by AdaGrad on the rows each batch touches (see module docstring).

    Args: see ``EmbeddingTask`` (``save_format`` glove writes GloVe's own text format).
    """

    objective = "glove"

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        save_format: str = "glove",
        plot_method: str = "pca",
        **task_options: Any,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, save_format, plot_method, **task_options)
        if not isinstance(self.net, GloVe):
            raise DlzooError(f"GloVeTask trains dlzoo.models.glove.GloVe, got {type(self.net).__name__}")
        if scheduler is not None:
            raise DlzooError("GloVe trains at AdaGrad's constant rate (the paper's): set model.scheduler=null")
        self._adagrad: list[RowAdaGrad] = []

    def vectors(self) -> Tensor:
        return self.net.vectors()

    def configure_optimizers(self) -> Any:
        optimizer = super().configure_optimizers()
        group = optimizer.param_groups[0]
        if type(optimizer) is not torch.optim.Adagrad or group["lr_decay"] or group["weight_decay"] or group["maximize"]:
            raise DlzooError("GloVe applies AdaGrad to the rows a batch touches: model.optimizer must be "
                             f"torch.optim.Adagrad without lr_decay or weight decay, got {optimizer}")
        return optimizer

    def on_train_start(self) -> None:
        # Bound here, after the weights moved to their device and a checkpoint's AdaGrad sums were restored.
        optimizer = self.trainer.optimizers[0]
        group = optimizer.param_groups[0]
        self._adagrad = [RowAdaGrad(table.data, group["lr"], group["eps"], optimizer.state[table]["sum"])
                         for table in glove_tables(self.net)]

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        i, j, x = batch
        self._manual_step(lambda: glove_step(self.net, self._adagrad, i, j, x), batch_idx, len(x))
