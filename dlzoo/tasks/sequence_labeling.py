"""Sequence tagging (many-to-many, Tx = Ty) and sequence classification (many-to-one), course 5 week 1.

Batches are ``(inputs (B, T), lengths (B,), labels)`` from ``dlzoo.text.collate_labeled``: labels (B, T) padded
with -100 for tagging, (B,) for classification. The net (``dlzoo.models.sequence_classifier``) returns logits
(B, T, C) or (B, C); the loss is cross-entropy over the real tokens (tagging) or the sequences
(classification), and ``acc`` is the share of real tokens / sequences whose argmax is the label.
``dlzoo.tasks.classification.ClassificationTask`` is not reused: it calls ``net(x)`` on one tensor and has no
notion of lengths or of per-token labels.

A data module with ``pretrained_embeddings()`` returning a (V, d) tensor (``dlzoo.data.emoji``: vectors from a
GloVe-format file) has it copied into ``net.embedding`` when training starts, before a resumed checkpoint's
weights are restored over it. ``predict_cli`` classifies sentences with the vocabulary, tokenizer case and
class names the data module stored in the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dlzoo.errors import DlzooError
from dlzoo.tasks.base import TaskModule
from dlzoo.text import Vocab, build_tokenizer, pad_batch

Batch = tuple[Tensor, Tensor, Tensor]


class SequenceLabelingTask(TaskModule):
    """Cross-entropy and accuracy of a tagger or a sequence classifier; see ``TaskModule`` for the arguments."""

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = getattr(self.trainer, "datamodule", None) if stage == "fit" else None
        matrix = datamodule.pretrained_embeddings() if hasattr(datamodule, "pretrained_embeddings") else None
        if matrix is None:
            return
        embedding = getattr(self.net, "embedding", None)
        if embedding is None or embedding.weight.shape != matrix.shape:
            got = "no `embedding`" if embedding is None else f"an embedding of shape {tuple(embedding.weight.shape)}"
            raise DlzooError(
                f"the data gives pretrained embeddings of shape {tuple(matrix.shape)} but the network has {got}"
            )
        with torch.no_grad():
            embedding.weight.copy_(matrix)

    def _loss_acc(self, batch: Batch) -> tuple[Tensor, Tensor, int]:
        inputs, lengths, labels = batch
        logits = self.compiled_net(inputs, lengths)  # (B, T, C) or (B, C)
        if logits.dim() == 3:
            logits = logits.transpose(1, 2)  # (B, C, T), cross_entropy's layout
        loss = F.cross_entropy(logits, labels)  # mean over labels != -100
        real = labels != -100
        acc = (logits.argmax(1) == labels)[real].float().mean()
        return loss, acc, int(real.sum())

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, acc, n = self._loss_acc(batch)
        self.check_finite(loss, batch_idx)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def _evaluate(self, batch: Batch, split: str) -> None:
        loss, acc, n = self._loss_acc(batch)
        log = dict(on_step=False, on_epoch=True, add_dataloader_idx=False, batch_size=n, sync_dist=True)
        self.log(f"{split}/loss", loss, prog_bar=split == "val", **log)
        self.log(f"{split}/acc", acc, prog_bar=split == "val", **log)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, self.eval_splits[dataloader_idx])

    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """``sentence <TAB> class <TAB> probability`` for each input sentence (sequence classifiers only)."""
        state = meta.get("data_state", {})
        if "vocab" not in state:
            raise DlzooError("this checkpoint stores no vocabulary (its data module saved none): it cannot read text")
        if not inputs:
            raise DlzooError('give the sentences as arguments, e.g. dlzoo-predict ckpt_path=... "i love you"')
        vocab, names = Vocab.from_state_dict(state["vocab"]), state.get("class_names", [])
        tokenizer = build_tokenizer(state.get("level", "word"), state.get("lower"))
        words = [tokenizer(text) for text in inputs]
        empty = [text for text, w in zip(inputs, words) if not w]
        if empty:
            raise DlzooError(f"inputs with no tokens: {empty}")
        tokens, lengths = pad_batch([vocab.encode(w) for w in words])  # (B, T), (B,)
        with torch.no_grad():
            logits = self.net(tokens.to(self.device), lengths)  # (B, C)
        if logits.dim() != 2:
            raise DlzooError(f"dlzoo-predict reads sequence classifiers; this net gives {logits.dim()}-D logits")
        p, index = logits.softmax(-1).max(-1)  # (B,), (B,)
        labels = [names[i] if i < len(names) else str(i) for i in index.tolist()]
        return [f"{text}\t{label}\t{q:.4f}" for text, label, q in zip(inputs, labels, p.tolist())]
