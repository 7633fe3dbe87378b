"""``dlzoo-train`` / ``python -m dlzoo.train``: train any dlzoo model from a Hydra config.

    dlzoo-train                                  # LeNet-5 on scikit-learn's digits, CPU
    dlzoo-train model=mlp data=moons             # any model with any data it fits
    dlzoo-train experiment=c1w2_logreg_cat       # a course experiment
    dlzoo-train ckpt_path=runs/.../last.ckpt     # resume exactly where a run stopped
    dlzoo-train -m model.optimizer.lr=1e-3,1e-2  # a sweep

Every run folder holds ``config.yaml`` (the resolved config), ``metrics.json`` (final metrics as
plain floats, training-set metrics measured in eval mode after training), ``MODEL_CARD.md``,
``checkpoints/`` (``last.ckpt`` and the best) and the logger's files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

from dlzoo.callbacks import RNGState
from dlzoo.checkpoint import AtomicCheckpointIO, read_checkpoint
from dlzoo.config import CONFIG_DIR, to_plain
from dlzoo.errors import DlzooError, exit_on_error
from dlzoo.model_card import write_model_card
from dlzoo.tasks.base import TaskModule, build

log = logging.getLogger("dlzoo")


def config_choice(group: str, cfg: DictConfig) -> str:
    """The name chosen for a config group (``lenet5``), or its ``_target_`` outside a Hydra run."""
    try:
        return str(HydraConfig.get().runtime.choices[group])
    except (ValueError, KeyError):
        return str(cfg.get("_target_", group))


def bind_net_to_data(net: DictConfig, sizes: dict[str, tuple[Any, tuple]], model_name: str, data_name: str) -> None:
    """Fill the network's data-dependent sizes left as null, and refuse the ones that contradict the data.

    ``sizes`` comes from the data module's ``net_sizes()``: for each key (``in_features``,
    ``num_classes``, ``vocab_size``, ...) the value to fill in and the values that fit the data.
    """
    with open_dict(net):
        for key, (default, allowed) in sizes.items():
            if key not in net:
                continue
            if net[key] is None:
                net[key] = default
            elif net[key] not in allowed:
                raise DlzooError(
                    f"model '{model_name}' has model.net.{key}={net[key]} but data '{data_name}' gives {default}. "
                    f"Drop the override or set it to {default}."
                )


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a callbacks/logger group."""
    if not group:
        return []
    return [build(to_plain(item)) for item in group.values() if item is not None and "_target_" in item]


def save_config(cfg: DictConfig, output_dir: Path) -> None:
    run_cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])  # Hydra's own config aside
    OmegaConf.save(run_cfg, output_dir / "config.yaml", resolve=True)


def write_metrics(metrics: dict[str, float], output_dir: Path) -> None:
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def evaluate_splits(trainer: L.Trainer, model: TaskModule, datamodule: L.LightningDataModule, ckpt_path: str | None) -> dict[str, float]:
    """The task's test metrics on every split, in eval mode, with the weights of ``ckpt_path`` (or current)."""
    loaders = datamodule.eval_dataloaders()
    model.eval_splits = list(loaders)
    results = trainer.test(model, dataloaders=list(loaders.values()), ckpt_path=ckpt_path, verbose=False)
    return {name: float(value) for result in results for name, value in result.items()}


def refuse_relaunch_in_sweep(trainer: L.Trainer) -> None:
    """Refuse a local multirun sweep (``-m``) whose runs start DDP processes themselves.

    Lightning starts ranks 1.. of a ``ddp`` run by running the command line again; under ``-m`` that
    command line is the whole sweep, so every extra process would run every job of it, each in the
    wrong folder. Where the processes exist already (``srun`` under SLURM, torchrun), nothing is
    relaunched and such sweeps run, e.g. with ``hydra/launcher=slurm``.
    """
    strategy = trainer.strategy
    relaunches = isinstance(strategy.launcher, _SubprocessScriptLauncher) and trainer.num_devices > 1 \
        and not strategy.cluster_environment.creates_processes_externally
    if relaunches and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise DlzooError(
            f"a multirun sweep (-m) cannot start {trainer.num_devices} DDP processes per run on this machine: "
            "Lightning starts them by re-running the command line, which would run the whole sweep in each. "
            "Run the sweep's values one command at a time, sweep with trainer.devices=1, or sweep on a "
            "SLURM cluster with hydra/launcher=slurm (srun starts the processes there)."
        )


def final_evaluator(trainer: L.Trainer, cfg: DictConfig) -> L.Trainer | None:
    """The trainer that measures the final metrics: ``trainer`` itself after a single-process fit.

    After a DDP fit, global rank 0 alone evaluates every split on its own device (the other ranks get
    None): sharded evaluation is not exact, because Lightning's DistributedSampler pads each split to
    a multiple of the world size with repeated examples, and corpus-level metrics (BLEU, mAP) of
    shards are not the corpus's. So every example counts once, as in a single-process run. The
    process group is closed first, so no collective in the evaluation waits for ranks that are done.
    Other strategies (FSDP: weights sharded across ranks) evaluate sharded, with synced metrics.
    """
    if trainer.world_size == 1 or not isinstance(trainer.strategy, DDPStrategy):
        return trainer
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        trainer.strategy.barrier("dlzoo-final-evaluation")
        torch.distributed.destroy_process_group()
    if not trainer.is_global_zero:
        return None
    device = trainer.strategy.root_device
    single = {"strategy": "auto", "devices": [device.index] if device.index is not None else 1, "num_nodes": 1, "sync_batchnorm": False}
    return build({**to_plain(cfg.trainer), **single}, logger=False, enable_checkpointing=False, plugins=[AtomicCheckpointIO()])


def train(cfg: DictConfig) -> float | None:
    """Train and evaluate one run; returns ``cfg.optimized_metric`` for sweeps."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("ckpt_path"):
        read_checkpoint(cfg.ckpt_path)  # a missing or corrupt file fails here, readably

    datamodule: L.LightningDataModule = build(to_plain(cfg.data))
    datamodule.prepare_data()
    datamodule.setup("fit")
    model_name, data_name = config_choice("model", cfg.model), config_choice("data", cfg.data)
    bind_net_to_data(cfg.model.net, datamodule.net_sizes(), model_name, data_name)

    callbacks = [*instantiate_group(cfg.get("callbacks")), RNGState()]
    if cfg.trainer.get("enable_progress_bar") is False:  # a run that turns the bar off drops the configured one
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not datamodule.has_validation:
        monitored = [c for c in callbacks if str(getattr(c, "monitor", None) or "").startswith("val/")]
        if monitored:
            raise DlzooError(
                f"data has no validation split (data.val_fraction=0) but callbacks monitor "
                f"{sorted({c.monitor for c in monitored})}; set data.val_fraction>0 or callbacks to monitor a train/ metric"
            )
    loggers = instantiate_group(cfg.get("logger"))
    # Without validation data, no validation loop: Lightning would otherwise enter it (and zero the
    # gradients for it) after every epoch, which costs as much as a step of a small network.
    no_val = {} if datamodule.has_validation else {"limit_val_batches": 0}
    trainer: L.Trainer = build(
        to_plain(cfg.trainer), callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()], **no_val
    )
    # Under the trainer's precision (float64 for 64-true), so initial weights are created in it,
    # not rounded to float32 first.
    with trainer.init_module(empty_init=False):
        model: TaskModule = build(to_plain(cfg.model), _recursive_=False)
    model.run_metadata = {
        "data": to_plain(cfg.data),
        "precision": str(cfg.trainer.get("precision", "32-true")),
        "data_state": datamodule.checkpoint_metadata(),  # e.g. a vocabulary, for predictions from the checkpoint alone
    }
    model.check_fits(datamodule, model_name, data_name)
    refuse_relaunch_in_sweep(trainer)
    if trainer.is_global_zero:  # under DDP every rank runs this function; rank 0 writes the run folder
        save_config(cfg, output_dir)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    best = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor and c.best_model_path), "")
    eval_ckpt = best if cfg.get("eval_ckpt") == "best" and best else None
    evaluator = final_evaluator(trainer, cfg)
    if evaluator is None:  # a DDP rank other than 0: rank 0 measures and writes the metrics
        return None
    metrics = evaluate_splits(evaluator, model, datamodule, eval_ckpt)
    metrics["epochs"] = float(trainer.current_epoch)
    for callback in callbacks:  # callbacks that measure something of their own (e.g. a cost history)
        if hasattr(callback, "final_metrics"):
            metrics.update(callback.final_metrics())
    if trainer.is_global_zero:
        write_metrics(metrics, output_dir)
        write_model_card(cfg, model, metrics, output_dir)
    summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if k.endswith(("acc", "loss")))
    log.info("run folder: %s", output_dir)
    print(f"[dlzoo] {summary}", flush=True)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def _main(cfg: DictConfig) -> float | None:
    with exit_on_error("dlzoo-train"):
        return train(cfg)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
