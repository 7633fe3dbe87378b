"""Language-model task (course 5 week 1): next-token cross-entropy with teacher forcing, and sampling.

Training: the net reads ``inputs`` (B, T) and is scored on ``targets`` (the same tokens shifted by one, padding
-100 and ignored) by cross-entropy:
- ``loss_reduction="token_mean"``: the mean over target tokens (nats/token), the usual choice;
- ``loss_reduction="sequence_sum"``: each sequence's summed cross-entropy, averaged over the batch: the
  course's dinosaur-name loss, whose gradient the assignment's SGD follows.
``carry_state=True`` starts each training batch from the previous batch's final state (detached), as the
assignment passes ``a_prev`` from one name to the next; evaluation always starts from zeros. The carried state
is saved in checkpoints (``checkpoint["carried_state"]``), so a run resumed from ``last.ckpt`` continues
exactly as the uninterrupted one.
Gradient clipping is the trainer's: ``trainer.gradient_clip_val=5 trainer.gradient_clip_algorithm=value``
clips every gradient entry to [-5, 5] (the course's ``clip``), ``algorithm=norm`` the global norm.

Metrics, on every split (``<split>/...``), exact over the epoch (sums of nats and tokens, not means of
batch means): ``loss`` nats/token, ``ppl`` = exp(loss), ``bits`` = loss / ln 2 (bits per character for a
character model). In training also ``train/loss``, the epoch's mean nats/token.

Sampling (``generate``): temperature and top-k, from a prompt (by default <bos> for data framed as lines, a
newline for a stream), until <eos> or ``max_len`` tokens. After training, ``n_samples`` samples are written
to ``<run>/samples.txt`` and printed; ``dlzoo-sample ckpt_path=... n=10 temperature=0.8 prompt=...`` draws
more from a checkpoint. ``CourseSmoothedLoss`` (a callback) logs the assignment's smoothed per-name loss.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from dlzoo.errors import DlzooError
from dlzoo.models.language_model import generate
from dlzoo.tasks.base import SplitEvaluation, TaskModule
from dlzoo.text import Vocab, build_tokenizer

Batch = tuple[Tensor, Tensor, Tensor]  # inputs (B, T), targets (B, T) with -100 padding, lengths (B,)


def token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy of every position (B, T): 0 where the target is -100 (padding)."""
    return F.cross_entropy(logits.transpose(1, 2).float(), targets, reduction="none")  # (B, T)


class LanguageModelTask(SplitEvaluation, TaskModule):
    """Teacher-forced training, perplexity metrics and sampling for ``dlzoo.models.language_model.LanguageModel``.

    Args:
        net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``.
        loss_reduction: "token_mean" or "sequence_sum" (see module docstring).
        carry_state: start each training batch from the previous one's final state (course; batch size fixed).
        n_samples, temperature, top_k, max_len, prompt: the samples drawn after training.
    """

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        loss_reduction: str = "token_mean",
        carry_state: bool = False,
        n_samples: int = 10,
        temperature: float = 1.0,
        top_k: int | None = None,
        max_len: int = 100,
        prompt: str = "",
        **task_options: Any,
    ) -> None:
        if loss_reduction not in ("token_mean", "sequence_sum"):
            raise DlzooError(f"model.loss_reduction must be 'token_mean' or 'sequence_sum', got {loss_reduction!r}")
        super().__init__(
            net, optimizer, scheduler, scheduler_interval, loss_reduction=loss_reduction, carry_state=carry_state,
            n_samples=n_samples, temperature=temperature, top_k=top_k, max_len=max_len, prompt=prompt, **task_options,
        )
        self._state: Any = None  # carried recurrent state (carry_state)
        self._sums: dict[str, list[Tensor]] = {}  # split -> [nats, tokens] of the epoch
        self.sequence_losses: Tensor | None = None  # (B,) summed nats of each sequence of the last training batch

    # ---- training and evaluation ---------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        inputs, targets, lengths = batch
        state = self._state if self.hparams.carry_state else None
        if state is not None and (state[0] if isinstance(state, tuple) else state).shape[1] != inputs.shape[0]:
            state = None  # a smaller last batch starts afresh
        if state is not None:  # on the CPU when it was loaded from a checkpoint
            state = tuple(s.to(inputs.device) for s in state) if isinstance(state, tuple) else state.to(inputs.device)
        logits, final = self.compiled_net(inputs, lengths, state)  # (B, T, V)
        if self.hparams.carry_state:
            self._state = tuple(s.detach() for s in final) if isinstance(final, tuple) else final.detach()
        nll = token_nll(logits, targets)  # (B, T)
        n_tokens = int((targets != -100).sum())
        self.sequence_losses = nll.detach().sum(1)  # (B,)
        token_mean = nll.sum() / n_tokens
        loss = token_mean if self.hparams.loss_reduction == "token_mean" else nll.sum() / len(inputs)
        self.check_finite(loss, batch_idx)
        self.log("train/loss", token_mean, on_step=False, on_epoch=True, prog_bar=True, batch_size=n_tokens, sync_dist=True)
        return loss

    def _evaluate(self, batch: Batch, split: str) -> None:
        inputs, targets, lengths = batch
        logits, _ = self.net(inputs, lengths)
        nll = token_nll(logits, targets)
        sums = self._sums.setdefault(split, [nll.new_zeros(()), nll.new_zeros(())])
        sums[0] = sums[0] + nll.sum()
        sums[1] = sums[1] + (targets != -100).sum()

    def reset_evaluation(self) -> None:
        self._sums = {}

    def log_evaluation(self) -> None:
        for split, (nats, tokens) in self._sums.items():
            loss = nats / tokens.clamp(min=1)
            log = dict(on_step=False, on_epoch=True, add_dataloader_idx=False, sync_dist=True)
            self.log(f"{split}/loss", loss, prog_bar=split == "val", **log)
            self.log(f"{split}/ppl", loss.exp(), **log)
            self.log(f"{split}/bits", loss / math.log(2), **log)
        self._sums = {}

    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        vocab_size = len(datamodule.vocab) if getattr(datamodule, "vocab", None) is not None else None
        net_vocab = getattr(self.net, "vocab_size", None)
        if vocab_size is not None and net_vocab is not None and net_vocab != vocab_size:
            raise DlzooError(f"model '{model_name}' has vocab_size {net_vocab} but data '{data_name}' has {vocab_size} tokens")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self._state is not None:  # training progress, like the optimizer's moments: plain tensors
            checkpoint["carried_state"] = list(self._state) if isinstance(self._state, tuple) else [self._state]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint loaded on its own (dlzoo-sample) keeps the vocabulary it was trained with.
        if not self.run_metadata:
            self.run_metadata = {k: v for k, v in checkpoint.get("dlzoo", {}).items() if k != "task"}
        carried = checkpoint.get("carried_state")  # (a,) or the LSTM's (a, c)
        self._state = None if carried is None else tuple(carried) if len(carried) == 2 else carried[0]

    # ---- sampling --------------------------------------------------------------------------------------------
    def sample(
        self, data_state: dict, n: int, prompt: str = "", temperature: float = 1.0, top_k: int | None = None,
        max_len: int = 100, seed: int = 0,
    ) -> list[str]:
        """``n`` texts: the prompt followed by its sampled continuation (without <eos>)."""
        if "vocab" not in data_state:
            raise DlzooError("this checkpoint stores no vocabulary (data_state.vocab); retrain with dlzoo-train")
        vocab = Vocab.from_state_dict(data_state["vocab"])
        tokenizer = build_tokenizer(data_state["level"], data_state["lower"])
        lines = data_state["framing"] == "lines"
        start = [vocab.bos_index] if lines else ([vocab["\n"]] if "\n" in vocab else [len(vocab) - 1])
        prompt_tokens = tokenizer(prompt)
        ids = (start if lines or not prompt_tokens else []) + vocab.encode(prompt_tokens)
        was_training = self.training
        self.eval()
        generator = torch.Generator(device=self.device).manual_seed(seed)
        rows = generate(self.net, ids, n, max_len, vocab.eos_index, temperature, top_k, generator)
        self.train(was_training)
        return [tokenizer.join(prompt_tokens + vocab.decode(row)) for row in rows]

    def on_train_end(self) -> None:
        data_state = self.run_metadata.get("data_state")
        if not data_state or not self.trainer.is_global_zero or self.hparams.n_samples < 1:
            return
        h = self.hparams
        samples = self.sample(data_state, h.n_samples, h.prompt, h.temperature, h.top_k, h.max_len)
        run_dir = Path(self.trainer.default_root_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        separator = "\n" if data_state["framing"] == "lines" else "\n----\n"
        (run_dir / "samples.txt").write_text(separator.join(samples) + "\n", encoding="utf-8")
        print(f"[dlzoo] {len(samples)} samples (temperature {h.temperature}):\n" + separator.join(samples), flush=True)

    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """``n`` samples for each prompt (the inputs, else ``prompt=``); a stream model's samples keep their
        newlines, written as ``\\n`` so that one sample is one line."""
        n, max_len = int(cfg.get("n", 10)), int(cfg.get("max_len", 100))
        temperature, top_k = float(cfg.get("temperature", 1.0)), cfg.get("top_k")
        if n < 1 or max_len < 1 or temperature < 0:
            raise DlzooError(f"n and max_len must be >= 1 and temperature >= 0, got n={n}, max_len={max_len}, temperature={temperature}")
        prompts = list(inputs) or [str(cfg.get("prompt") or "")]
        out = []
        for prompt in prompts:
            samples = self.sample(meta.get("data_state", {}), n, prompt, temperature, None if top_k is None else int(top_k),
                                  max_len, int(cfg.get("seed", 0)))
            out += [s.replace("\n", "\\n") for s in samples]
        return out


class CourseSmoothedLoss(L.Callback):
    """The C5W1 assignment's printed loss: per-name summed cross-entropy smoothed as
    L <- 0.999 L + 0.001 current, from L = ``initial`` (the course's 7 ln 27 = 23.07, "the loss of a
    7-character name under a uniform guess"), updated once per training sequence.

    Iteration j (from 0) is the j-th name; every ``every`` iterations, after that iteration's update, the value
    is printed as the course does ("Iteration: 22000, Loss: 22.73") and kept; ``final_metrics()`` adds
    ``train/smoothed_loss`` (the last value) and ``train/smoothed_loss_<j>`` for every recorded j.
    Written to ``<dirpath>/smoothed_loss.csv`` after training. Batches of several names update once per name.
    """

    def __init__(self, initial: float = 7 * math.log(27), every: int = 2000, dirpath: str | None = None, verbose: bool = True) -> None:
        self.initial, self.every, self.dirpath, self.verbose = initial, every, dirpath, verbose
        self.loss = initial
        self.iteration = -1  # index of the last name seen
        self.history: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        for current in pl_module.sequence_losses.tolist():
            self.loss = 0.999 * self.loss + 0.001 * current
            self.iteration += 1
            if self.iteration % self.every == 0:
                self.history.append((self.iteration, self.loss))
                if self.verbose and trainer.is_global_zero:
                    print(f"Iteration: {self.iteration}, Loss: {self.loss:.6f}", flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.dirpath and self.history and trainer.is_global_zero:
            Path(self.dirpath).mkdir(parents=True, exist_ok=True)
            rows = ["iteration,smoothed_loss", *(f"{j},{v!r}" for j, v in self.history)]
            (Path(self.dirpath) / "smoothed_loss.csv").write_text("\n".join(rows) + "\n")

    def final_metrics(self) -> dict[str, float]:
        if self.iteration < 0:
            return {}
        return {"train/smoothed_loss": self.loss, **{f"train/smoothed_loss_{j}": v for j, v in self.history}}

    def state_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "iteration": self.iteration, "history": [list(h) for h in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.loss, self.iteration = float(state_dict["loss"]), int(state_dict["iteration"])
        self.history = [(int(j), float(v)) for j, v in state_dict["history"]]
