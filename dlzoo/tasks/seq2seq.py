"""Sequence-to-sequence task (course 5 week 3, "Neural Machine Translation"): an encoder-decoder
(``dlzoo.models.seq2seq``) trained with teacher forcing and evaluated by decoding.

Training: the decoder reads <bos> y1 .. yn and is scored on y1 .. yn <eos> by the mean cross-entropy over the
non-pad target tokens (``sequence_loss``: padding is masked in the loss; the encoder reads each source to its
length and the attention masks padded positions). With ``teacher_forcing_ratio`` < 1 each sentence's true previous token
is replaced, step by step, by the model's own argmax with probability 1 - ratio.

Evaluation, on val every epoch and on every split for the final metrics (``<split>/...``):
- ``loss``: the teacher-forced cross-entropy, averaged over target tokens;
- ``acc``: exact match of the greedy decoding (``dlzoo.ops.bleu.exact_match``: every token and the length);
- ``token_acc``: share of the target positions, <eos> included, where the greedy decoding has the target's
  token (``token_accuracy``);
- ``bleu``: corpus BLEU in [0, 100] (``dlzoo.ops.bleu.corpus_bleu``, sacrebleu's definition) of the greedy
  decodings over target tokens: characters for the dates, the same as sacrebleu's ``tokenize='char'``;
- with ``beam_size`` > 1 also ``beam_acc``, ``beam_token_acc`` and ``beam_bleu`` of the best hypothesis of
  ``dlzoo.ops.beam_search.beam_search``, ranked by log-likelihood / T^``length_alpha``.
Epoch values are exact: acc is averaged over sentences, loss and token_acc over target tokens, and the BLEU
n-gram counts are summed over the whole split before dividing (in one process; under DDP each process scores
its own shard). Decoding runs to the longest training target (or the batch's longest target, if longer),
which exact match and token accuracy need and BLEU, which scores the text produced, barely notices.

After training, with the final weights, the data's example sources (dates: '3 May 1979', '5 April 09', ...)
are translated, printed and written to ``<run>/translations.txt``, and the attention weights of the first
``n_heatmaps`` are drawn as ``<run>/attention.png`` (input characters x output characters).

``predict_cli`` (``dlzoo-translate ckpt_path=... "3 May 1979" beam=5``) translates strings with the
vocabularies stored in the checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.apply_func import move_data_to_device
import torch
from torch import Tensor

from dlzoo.errors import DlzooError
from dlzoo.models.seq2seq import sequence_loss
from dlzoo.ops.beam_search import beam_search, greedy_decode
from dlzoo.ops.bleu import corpus_bleu, exact_match, token_accuracy
from dlzoo.tasks.base import SplitEvaluation, TaskModule, build
from dlzoo.text import Vocab

Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,)
IDS = dict(bos_id=Vocab.bos_index, eos_id=Vocab.eos_index, pad_id=Vocab.pad_index)


def token_strings(ids: Tensor, eos_id: int = Vocab.eos_index, pad_id: int = Vocab.pad_index) -> list[str]:
    """Each row of ids (B, L) up to its first <eos>, padding dropped, as space-separated ids: the 'sentences'
    BLEU counts n-grams of (one token an id, so BLEU over characters for a character vocabulary)."""
    lines = []
    for row in ids.tolist():
        row = row[: row.index(eos_id)] if eos_id in row else row
        lines.append(" ".join(str(i) for i in row if i != pad_id))
    return lines


class Seq2SeqTask(SplitEvaluation, TaskModule):
    """Teacher-forced training and decoded evaluation of an encoder-decoder with ``dlzoo.models.seq2seq``'s
    step API (``encode``, ``init_state``, ``decode_step``, ``reorder_state``, ``reorder_memory``).

    Args:
        net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``.
        teacher_forcing_ratio: probability of feeding the true previous token in training (1: always).
        beam_size: beam width of the extra ``beam_*`` metrics (1: greedy only).
        length_alpha: beam search's length normalization exponent (the course's 0.7).
        n_heatmaps: example translations whose attention is drawn after training.
    """

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        teacher_forcing_ratio: float = 1.0,
        beam_size: int = 1,
        length_alpha: float = 0.7,
        n_heatmaps: int = 4,
        **task_options: Any,
    ) -> None:
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise DlzooError(f"model.teacher_forcing_ratio must lie in [0, 1], got {teacher_forcing_ratio}")
        if beam_size < 1:
            raise DlzooError(f"model.beam_size must be >= 1, got {beam_size}")
        super().__init__(
            net, optimizer, scheduler, scheduler_interval, teacher_forcing_ratio=teacher_forcing_ratio,
            beam_size=beam_size, length_alpha=length_alpha, n_heatmaps=n_heatmaps, **task_options,
        )
        self._corpora: dict[str, tuple[list[str], list[str]]] = {}  # metric name -> (hypotheses, references)

    # ---- losses and decoding -------------------------------------------------------------------------------
    def teacher_forced_loss(self, batch: Batch, teacher_forcing_ratio: float = 1.0) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy over the non-pad target tokens, and the scored targets tgt[:, 1:] (B, T)."""
        src, src_lengths, tgt, _ = batch
        net = self.compiled_net
        logits, _ = net(src, src_lengths, tgt[:, :-1], teacher_forcing_ratio)  # (B, T, V)
        tgt_out = tgt[:, 1:]  # (B, T) y1 .. yn <eos> <pad>..
        return sequence_loss(logits, tgt_out, IDS["pad_id"]), tgt_out

    def decode(self, src: Tensor, src_lengths: Tensor, max_len: int, beam_size: int = 1) -> Tensor:
        """Output ids (B, L), <eos> included when produced and <pad> after it: greedy, or beam search's best."""
        if beam_size == 1:
            return greedy_decode(self.net, src, src_lengths, max_len=max_len, **IDS).tokens
        return beam_search(self.net, src, src_lengths, beam_size=beam_size, max_len=max_len,
                           alpha=self.hparams.length_alpha, **IDS).tokens[:, 0]

    def decode_len(self, tgt_out: Tensor) -> int:
        """Steps to decode: the longest training target (from the data), or this batch's if longer."""
        known = self.run_metadata.get("data_state", {}).get("max_target_len", 0)
        return max(int(known), tgt_out.shape[1])

    # ---- Lightning steps -----------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, tgt_out = self.teacher_forced_loss(batch, self.hparams.teacher_forcing_ratio)
        self.check_finite(loss, batch_idx)
        n_tokens = int((tgt_out != IDS["pad_id"]).sum())
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n_tokens, sync_dist=True)
        return loss

    def _evaluate(self, batch: Batch, split: str) -> None:
        src, src_lengths = batch[0], batch[1]
        loss, tgt_out = self.teacher_forced_loss(batch)
        n_sentences, n_tokens = len(src), int((tgt_out != IDS["pad_id"]).sum())
        log = dict(on_step=False, on_epoch=True, add_dataloader_idx=False, sync_dist=True)
        self.log(f"{split}/loss", loss, batch_size=n_tokens, prog_bar=split == "val", **log)
        decoders = [("", 1)] + ([("beam_", self.hparams.beam_size)] if self.hparams.beam_size > 1 else [])
        for prefix, width in decoders:
            pred = self.decode(src, src_lengths, self.decode_len(tgt_out), width)  # (B, L)
            self.log(f"{split}/{prefix}acc", exact_match(pred, tgt_out, IDS["pad_id"]), batch_size=n_sentences,
                     prog_bar=split == "val" and not prefix, **log)
            self.log(f"{split}/{prefix}token_acc", token_accuracy(pred, tgt_out, IDS["pad_id"]), batch_size=n_tokens, **log)
            hyps, refs = self._corpora.setdefault(f"{split}/{prefix}bleu", ([], []))
            hyps += token_strings(pred)
            refs += token_strings(tgt_out)

    def reset_evaluation(self) -> None:
        self._corpora = {}

    def log_evaluation(self) -> None:
        for name, (hyps, refs) in self._corpora.items():
            self.log(name, corpus_bleu(hyps, [refs], tokenize="none"), add_dataloader_idx=False, sync_dist=True)
        self._corpora = {}

    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        """Run two training pairs through the network, so a mismatch is one sentence, not a deep traceback."""
        from dlzoo.data.dates import collate_parallel

        if not hasattr(datamodule, "codec"):
            raise DlzooError(f"model '{model_name}' translates text; data '{data_name}' is not parallel text "
                             "(use data=dates or data=parallel_tsv)")
        dataset = datamodule.datasets["train"]
        batch = collate_parallel([dataset[i] for i in range(min(2, len(dataset)))])
        batch = move_data_to_device(batch, self.device)  # built under trainer.init_module(), the net may be on the GPU
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self.teacher_forced_loss(batch)
        except (RuntimeError, ValueError, IndexError) as err:
            raise DlzooError(
                f"model '{model_name}' cannot take the pairs of data '{data_name}': {str(err).splitlines()[0]}"
            ) from err
        finally:
            self.train(was_training)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint loaded on its own (dlzoo-eval, dlzoo-translate) keeps the data state it was trained with.
        if not self.run_metadata:
            self.run_metadata = {k: v for k, v in checkpoint.get("dlzoo", {}).items() if k != "task"}

    # ---- translations ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, codec: Any, texts: list[str], beam_size: int = 1, max_len: int = 100) -> dict[str, Any]:
        """Translations of ``texts`` (a ``dlzoo.data.seq2seq.TextCodec`` converts text and ids), with the
        source tokens, the token of each decoding step and, for greedy decoding with attention, the weights
        (B, L, S)."""
        src, src_lengths = codec.encode_sources(texts)  # (B, S), (B,)
        src, src_lengths = src.to(self.device), src_lengths.to(self.device)
        if beam_size == 1:
            result = greedy_decode(self.net, src, src_lengths, max_len=max_len, **IDS)
            tokens, attention = result.tokens, result.attention
        else:
            tokens, attention = self.decode(src, src_lengths, max_len, beam_size), None
        rows = tokens.cpu().tolist()
        steps = [row[: row.index(IDS["eos_id"]) + 1] if IDS["eos_id"] in row else row for row in rows]
        return {
            "translations": [codec.decode_target(row) for row in rows],
            "source_tokens": [codec.source_tokens(text) for text in texts],
            "step_tokens": [[codec.tgt_vocab.itos[i] for i in row] for row in steps],  # <eos> and <unk> shown
            "attention": attention.cpu() if attention is not None else None,
        }

    def on_train_end(self) -> None:
        datamodule = self.trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "example_sources") or not self.trainer.is_global_zero:
            return
        sources = datamodule.example_sources()
        if not sources:
            return
        was_training = self.training
        self.eval()
        codec, max_len = datamodule.codec(), datamodule.max_target_len
        greedy = self.translate(codec, sources, 1, max_len)
        beam = self.translate(codec, sources, self.hparams.beam_size, max_len) if self.hparams.beam_size > 1 else None
        self.train(was_training)
        lines = []
        for i, source in enumerate(sources):
            line = f"{source}\t{greedy['translations'][i]}"
            lines.append(line + (f"\t{beam['translations'][i]}" if beam else ""))
        header = "source\tgreedy" + (f"\tbeam {self.hparams.beam_size}" if beam else "")
        run_dir = Path(self.trainer.default_root_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "translations.txt").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
        print("[dlzoo] example translations (final weights):\n  " + "\n  ".join([header, *lines]), flush=True)
        if greedy["attention"] is not None and self.hparams.n_heatmaps > 0:
            plot_attention(greedy, run_dir / "attention.png", self.hparams.n_heatmaps)
            print(f"[dlzoo] attention heatmaps: {run_dir / 'attention.png'}", flush=True)

    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """``<source>\\t<translation>`` for each input string; greedy with beam=1, else beam search's best.
        Greedy decoding also draws the attention of the first inputs into ``<output_dir>/attention.png``."""
        if not inputs:
            raise DlzooError('give the strings to translate as arguments: dlzoo-translate ckpt_path=... "3 May 1979"')
        if "src_vocab" not in meta.get("data_state", {}):
            raise DlzooError("this checkpoint stores no vocabularies (data_state.src_vocab); retrain with dlzoo-train")
        beam, max_len = int(cfg.get("beam", 1)), int(cfg.get("max_len", 100))
        if beam < 1 or max_len < 1:
            raise DlzooError(f"beam and max_len must be >= 1, got beam={beam}, max_len={max_len}")
        codec = build(meta["data"]).codec(meta["data_state"])
        result = self.translate(codec, list(inputs), beam, max_len)
        if result["attention"] is not None:
            plot_attention(result, output_dir / "attention.png", min(len(inputs), 8))
        return [f"{source}\t{out}" for source, out in zip(inputs, result["translations"])]


def plot_attention(result: dict[str, Any], path: Path, n: int) -> None:
    """Heatmaps of the attention weights of the first ``n`` translations: output tokens (rows, <eos> last)
    against source tokens (columns). Drawn with matplotlib's object API, which needs no display."""
    from matplotlib.figure import Figure

    n = min(n, len(result["translations"]))
    fig = Figure(figsize=(4.5 * n, 4.0), layout="constrained")
    for i, ax in enumerate(fig.subplots(1, n, squeeze=False)[0]):
        src, rows = result["source_tokens"][i], result["step_tokens"][i]
        weights = result["attention"][i, : len(rows), : len(src)].numpy()  # (L, S)
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(src)), ["␣" if t == " " else t for t in src], fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xlabel("input")
        ax.set_ylabel("output")
        ax.set_title(repr("".join(src)), fontsize=8)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="attention weight")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
