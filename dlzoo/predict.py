"""``dlzoo-predict ckpt_path=<checkpoint> [inputs...] [options]``: use a trained model.

What an input is depends on the checkpoint's task: image files or folders (classification,
detection), text prompts (language models), source strings (translation). Inputs are given as
plain arguments, without ``=``; everything with ``=`` is a Hydra override of ``configs/predict.yaml``:

    dlzoo-predict ckpt_path=runs/.../last.ckpt photos/ cat.png
    dlzoo-sample ckpt_path=runs/.../last.ckpt n=10 temperature=0.8     # = dlzoo-predict for LMs
    dlzoo-translate ckpt_path=runs/.../last.ckpt "3 May 1979" beam=5   # = dlzoo-predict for seq2seq

The task class, the data config and the data state (class names, vocabularies) come from the
checkpoint. Each task implements ``predict_cli(inputs, cfg, meta, output_dir) -> list[str]``, with
``meta`` the checkpoint's ``dlzoo`` entry (``data``, ``data_state``, ``precision``): it returns one
line a prediction (printed here) and may write files (e.g. images with boxes) into the run folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from dlzoo.config import CONFIG_DIR
from dlzoo.errors import DlzooError, exit_on_error

POSITIONAL: list[str] = []  # the inputs given without '=', taken out of sys.argv before Hydra parses it


def predict(cfg: DictConfig, inputs: list[str]) -> list[str]:
    from dlzoo.eval import load_task

    model, meta = load_task(cfg.ckpt_path)
    if not hasattr(model, "predict_cli"):
        raise DlzooError(f"{type(model).__name__} checkpoints have no command-line prediction")
    model.eval()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lines = model.predict_cli(inputs, cfg, meta, output_dir)
    (output_dir / "predictions.txt").write_text("".join(f"{line}\n" for line in lines))
    return lines


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
def _main(cfg: DictConfig) -> None:
    with exit_on_error("dlzoo-predict"):
        for line in predict(cfg, [*POSITIONAL, *(cfg.get("inputs") or [])]):
            print(line)


def main() -> None:
    args = sys.argv[1:]
    POSITIONAL[:] = [a for a in args if "=" not in a and not a.startswith("-")]
    sys.argv[1:] = [a for a in args if a not in POSITIONAL]
    _main()


if __name__ == "__main__":
    main()
