"""What every dlzoo task module shares: building the network and optimiser from plain config
dicts, the divergence guard, and the metadata that lets ``dlzoo-eval`` rebuild a run from its
checkpoint alone.

Hyperparameters are stored as plain dicts and lists (``_target_`` dicts, as in the Hydra configs):
a checkpoint then loads with ``load_from_checkpoint`` in a fresh process under torch's
``weights_only=True`` default, with no Hydra object inside.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue
from torch import nn

from dlzoo.config import to_plain
from dlzoo.models.pretrained import param_groups
from dlzoo.errors import DlzooError


def build(config: dict[str, Any] | None, **kwargs: Any) -> Any:
    """Instantiate a ``_target_`` dict (a ``_partial_`` one gives a partial, then called by the caller)."""
    if config is None:
        return None
    try:
        return instantiate(config, **kwargs)
    except Exception as err:  # Hydra wraps the real error; surface it in one sentence
        cause = err.__cause__ or err
        if isinstance(cause, MissingMandatoryValue):
            raise DlzooError(
                f"{config.get('_target_')} needs a value for '{cause.full_key}' (marked ??? in its config): "
                f"pass it on the command line, e.g. data.{cause.full_key}=..."
            ) from err
        raise DlzooError(f"cannot build {config.get('_target_', config)}: {type(cause).__name__}: {cause}") from err


class TaskModule(L.LightningModule):
    """Base of the task modules.

    Args:
        net: ``_target_`` dict of the network (any nn.Module of ``dlzoo.models`` or elsewhere).
        optimizer: ``_partial_`` ``_target_`` dict of a torch optimizer, e.g. ``torch.optim.Adam``.
        scheduler: optional ``_partial_`` ``_target_`` dict of an LR scheduler.
        scheduler_interval: step the scheduler every ``epoch`` or every ``step``.
        backbone_lr_mult: with a CNN of dlzoo's stem/stages/head interface, the backbone trains at
            ``lr * backbone_lr_mult`` (fine-tuning); None trains every parameter at ``lr``.
        compile: wrap the network with ``torch.compile`` when training starts.
        channels_last: NHWC memory layout for conv nets (``auto``: on CUDA only, where cuDNN's
            tensor-core kernels want it).
        **task_hparams: the subclass's own hyperparameters, saved with these.
    """

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        backbone_lr_mult: float | None = None,
        compile: bool = False,
        channels_last: bool | str = "auto",
        **task_hparams: Any,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise DlzooError(f"model.scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        hparams = dict(
            net=net, optimizer=optimizer, scheduler=scheduler, scheduler_interval=scheduler_interval,
            backbone_lr_mult=backbone_lr_mult, compile=compile, channels_last=channels_last,
        )
        self.save_hyperparameters({name: to_plain(value) for name, value in {**hparams, **task_hparams}.items()})
        self.net: nn.Module = build(self.hparams.net)
        self.run_metadata: dict[str, Any] = {}  # set by the runner: the data config, for dlzoo-eval
        self.eval_splits: list[str] = ["test"]  # names of the test dataloaders, in order (set by the runner)

        self.channels_last = False  # decided in setup(), once the device is known
        self._compiled: Any = None  # torch.compile(net), kept out of the module tree (and state_dict keys)
        self._unchecked_losses: list[tuple[torch.Tensor, int, int, int]] = []  # see check_finite

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name before and after every hook it calls, some 40 times a training
        # step. nn.Module.__setattr__ checks the value against parameters, buffers and submodules first,
        # which made those sets a measurable share of a small model's step (scripts/bench_runner.py); a
        # string or None is none of those, so it is stored directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # The usual batch, a plain tuple or list of tensors, moves without Lightning's generic walk over
        # nested collections, another per-step cost that showed in a small model's step time.
        if type(batch) in (tuple, list) and all(isinstance(t, torch.Tensor) for t in batch):
            return type(batch)(t.to(device, non_blocking=device.type == "cuda") for t in batch)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def setup(self, stage: str) -> None:
        mode = self.hparams.channels_last
        has_conv = any(isinstance(m, nn.Conv2d) for m in self.net.modules())
        self.channels_last = has_conv and (mode is True or (mode == "auto" and self.device.type == "cuda"))
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if self.hparams.compile and self._compiled is None:
            object.__setattr__(self, "_compiled", torch.compile(self.net))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.compiled_net(x)

    @property
    def compiled_net(self) -> nn.Module:
        """The network, torch.compile'd when ``compile=true`` (the compiled wrapper, not its truth value:
        ``compiled or net`` would call ``len()`` on it)."""
        return self.net if self._compiled is None else self._compiled

    def configure_optimizers(self) -> Any:
        if self.hparams.backbone_lr_mult is None:
            params = self.parameters()
        else:
            params = param_groups(self.net, self.hparams.optimizer["lr"], self.hparams.backbone_lr_mult)
        optimizer = build(self.hparams.optimizer)(params=params)
        if self.hparams.scheduler is None:
            return optimizer
        scheduler = build(self.hparams.scheduler)(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval}}

    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        """Raise a one-sentence DlzooError if the network cannot take the data (before any training)."""

    def check_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop the run, saying where, when the training loss stops being a finite number.

        On the CPU every step is checked at once. On an accelerator, reading a loss back makes the host
        wait for the device, so the losses are kept there and checked together every
        ``trainer.log_every_n_steps`` steps and at the end of each epoch: the error still names the
        first bad step, a few steps late.
        """
        where = (self.current_epoch, batch_idx, self.global_step)
        if loss.device.type == "cpu":
            if not math.isfinite(value := loss.item()):
                self._diverged(value, *where)
            return
        self._unchecked_losses.append((loss.detach(), *where))
        if len(self._unchecked_losses) < self.trainer.log_every_n_steps and not self.trainer.is_last_batch:
            return
        unchecked, self._unchecked_losses = self._unchecked_losses, []
        finite = torch.isfinite(torch.stack([value for value, *_ in unchecked]))  # (steps,)
        if not bool(finite.all()):
            value, *first_bad = unchecked[int((~finite).nonzero()[0])]
            self._diverged(value.item(), *first_bad)

    def _diverged(self, value: float, epoch: int, batch_idx: int, step: int) -> None:
        lrs = [group["lr"] for group in self.trainer.optimizers[0].param_groups] if self.trainer.optimizers else []
        raise DlzooError(
            f"training loss became {value} at epoch {epoch}, batch {batch_idx} "
            f"(global step {step}, learning rate {lrs}). The run diverged: lower the learning rate, "
            f"add gradient clipping (trainer.gradient_clip_val) or check the data for NaN/inf values."
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        cls = type(self)
        checkpoint["dlzoo"] = {"task": f"{cls.__module__}.{cls.__qualname__}", **self.run_metadata}


class SplitEvaluation:
    """Evaluation whose metrics need a whole split (perplexity over all its tokens, corpus BLEU, mAP): each
    validation or test batch goes to ``_evaluate(batch, split)``, which gathers; ``reset_evaluation()``
    starts a split afresh and ``log_evaluation()`` logs what was gathered when it ends. Put it before
    TaskModule among the bases: ``class DetectionTask(SplitEvaluation, TaskModule)``."""

    eval_splits: list[str]

    def _evaluate(self, batch: Any, split: str) -> None:
        raise NotImplementedError

    def reset_evaluation(self) -> None:
        raise NotImplementedError

    def log_evaluation(self) -> None:
        raise NotImplementedError

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, self.eval_splits[dataloader_idx])

    def on_validation_epoch_start(self) -> None:
        self.reset_evaluation()

    def on_test_epoch_start(self) -> None:
        self.reset_evaluation()

    def on_validation_epoch_end(self) -> None:
        self.log_evaluation()

    def on_test_epoch_end(self) -> None:
        self.log_evaluation()
