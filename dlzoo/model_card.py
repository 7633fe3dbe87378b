"""``MODEL_CARD.md``: what a run trained, on what, how, and how well, written into its run folder.

After Mitchell et al. 2019, "Model Cards for Model Reporting", cut to what a reader of a dlzoo run
needs to trust and reuse it: the model (config name, class, parameter count), the data (its config),
the hyperparameters (optimizer, scheduler, epochs, precision, batch size), the seed and the overrides
that reproduce the run, the software versions, the final metrics (those of ``metrics.json``), and the
commands that use the checkpoint. The card's sections of intended use, ethics and caveats are left to
whoever publishes a model: a reference-zoo run has no deployment context to describe.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning
import torch
from omegaconf import DictConfig, OmegaConf

import dlzoo
from dlzoo.config import to_plain
from dlzoo.export import EXPORTABLE_TASKS


def versions() -> dict[str, str]:
    """Versions of the software a run depends on most (dlzoo's from its installed metadata if any)."""
    try:
        dlzoo_version = metadata.version("dlzoo")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        dlzoo_version = dlzoo.__version__
    return {"dlzoo": dlzoo_version, "torch": torch.__version__, "lightning": lightning.__version__, "python": platform.python_version()}


def _target(node: Any) -> str:
    """``torch.optim.Adam(lr=0.001)`` from a ``_target_`` config, ``none`` for None."""
    if not node:
        return "none"
    args = ", ".join(f"{k}={json.dumps(v)}" for k, v in node.items() if not k.startswith("_"))
    return f"`{node['_target_']}({args})`"


def _checkpoint(output_dir: Path) -> str:
    """The run's checkpoint to use from the card: last.ckpt, else the first one written, else a placeholder."""
    folder = output_dir / "checkpoints"
    found = [folder / "last.ckpt"] if (folder / "last.ckpt").is_file() else sorted(folder.glob("*.ckpt"))
    return str(found[0]) if found else "<checkpoint>"


def write_model_card(cfg: DictConfig, model: torch.nn.Module, metrics: dict[str, float], output_dir: Path) -> Path:
    """Write ``output_dir/MODEL_CARD.md`` for a finished run of ``cfg``; returns its path."""
    from dlzoo.train import config_choice  # dlzoo.train imports this module

    model_cfg, data_cfg, trainer_cfg = to_plain(cfg.model), to_plain(cfg.data), to_plain(cfg.trainer)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ckpt = _checkpoint(Path(output_dir))
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = " ".join(HydraConfig.get().overrides.task)
    except ValueError:  # outside a Hydra run (tests composing configs get the registered runtime)
        overrides = ""
    task = model_cfg["_target_"]

    lines = [
        f"# Model card: {cfg.get('task_name', 'train')} run `{Path(output_dir).name}`",
        "",
        "## Model",
        f"- config: `model={config_choice('model', cfg.model)}`, task `{task}`, network `{model_cfg['net']['_target_']}`",
        f"- parameters: {parameters:,} ({trainable:,} trainable)",
        "- network config:",
        "```yaml",
        OmegaConf.to_yaml(model_cfg["net"]).rstrip(),
        "```",
        "",
        "## Data",
        f"- config: `data={config_choice('data', cfg.data)}`, `{data_cfg.get('_target_')}`",
        "```yaml",
        OmegaConf.to_yaml(data_cfg).rstrip(),
        "```",
        "",
        "## Training",
        f"- optimizer: {_target(model_cfg.get('optimizer'))}",
        f"- scheduler: {_target(model_cfg.get('scheduler'))}",
        f"- trainer.max_epochs: {trainer_cfg.get('max_epochs')} (epochs run: {int(metrics['epochs']) if 'epochs' in metrics else 'n/a'})",
        f"- precision: {trainer_cfg.get('precision', '32-true')}",
        f"- batch size: {data_cfg.get('batch_size', 'n/a')}",
        f"- seed: {cfg.get('seed')}",
        f"- command: `dlzoo-train {overrides}`".rstrip(),
        "",
        "## Software",
        *(f"- {name} {version}" for name, version in versions().items()),
        "",
        "## Final metrics",
        f"Every split in eval mode, with the weights of `eval_ckpt={cfg.get('eval_ckpt')}` (as in `metrics.json`).",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {value:.6g} |" for name, value in sorted(metrics.items())),
        "",
        "## Use",
        "```bash",
        f"dlzoo-eval ckpt_path={ckpt}",
        f"dlzoo-predict ckpt_path={ckpt} <inputs>",
        *([f"dlzoo-export ckpt_path={ckpt} format=onnx"] if task in EXPORTABLE_TASKS else []),
        "```",
        "",
    ]
    path = Path(output_dir) / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
