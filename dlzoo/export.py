"""``dlzoo-export ckpt_path=<run>/checkpoints/last.ckpt format=onnx|torch_export [output=...]``: hand a
trained network on.

    dlzoo-export ckpt_path=runs/.../last.ckpt                      # <run folder>/model.onnx
    dlzoo-export ckpt_path=runs/.../last.ckpt format=torch_export  # <run folder>/model.pt2
    dlzoo-export ckpt_path=runs/.../last.ckpt output=lenet.onnx input_shape=[1,32,32]

The checkpoint's network is exported in eval mode: dropout off, batch norm on its running statistics,
GoogLeNet without its auxiliary classifiers. Both formats start from one ``torch.export`` graph (the
exporter that torch.onnx's ``dynamo=True`` path is built on; the TorchScript one is deprecated):
``format=torch_export`` saves it with ``torch.export.save`` (load it with
``torch.export.load(path).module()``), ``format=onnx`` translates it to ONNX for onnxruntime and other
runtimes. The input is named ``input`` and the output ``output``.

The batch axis is dynamic; every other input size is fixed at the example's, one example's shape as
the run trained on: ``input_shape=[C,H,W]`` if given, else the checkpoint's data state (``image_size``
of detection data), else the data config stored in the checkpoint, whose data module is set up to
read its ``input_shape`` (the data files must then be readable). The output is raw: logits of a
classifier (the softmax or sigmoid is not part of it), the undecoded grid of YOLO.

Exported: networks that take one image or feature tensor, i.e. the classification (every CNN, the
MLP, logistic regression), localization/landmark and detection tasks. Sequence models (language
models, seq2seq, taggers, embeddings) take token ids of varying length and decode step by step
outside the network; they are refused.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from dlzoo.config import CONFIG_DIR
from dlzoo.errors import DlzooError, exit_on_error
from dlzoo.tasks.base import TaskModule, build

# format -> file name written into the run folder
FILE_NAMES = {"onnx": "model.onnx", "torch_export": "model.pt2"}
EXPORTABLE_TASKS = (
    "dlzoo.tasks.classification.ClassificationTask",
    "dlzoo.tasks.localization.LocalizationTask",
    "dlzoo.tasks.detection.DetectionTask",
)
EXAMPLE_BATCH = 2  # torch.export specialises sizes 0 and 1, so the example batch is 2 for a dynamic axis


def require_onnx() -> None:
    """The ONNX exporter's packages, or one DlzooError saying how to install them."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise DlzooError(f"format=onnx needs {' and '.join(missing)}: pip install 'dlzoo[export]'")


def example_shape(model: TaskModule, meta: dict, input_shape: list[int] | None) -> tuple[int, ...]:
    """One input example's shape (no batch axis), from the override, the data state or the data config."""
    if input_shape:
        return tuple(int(size) for size in input_shape)
    state = meta.get("data_state") or {}
    if "input_shape" in state:
        return tuple(state["input_shape"])
    if "image_size" in state:  # detection and localization data: square images of image_size pixels
        side = int(state["image_size"])
        return int(model.hparams.net.get("in_channels") or 3), side, side
    data_cfg = meta.get("data")
    hint = "pass input_shape=[C,H,W] (or [features]) for one example"
    if data_cfg is None:
        raise DlzooError(f"the checkpoint stores no data config to size the example input: {hint}")
    try:
        return tuple(build(data_cfg).input_shape)  # sets the data module up: reads its files
    except DlzooError as err:
        raise DlzooError(f"cannot size the example input from the run's data ({err}); {hint}") from err
    except AttributeError as err:
        raise DlzooError(f"data {data_cfg.get('_target_')} has no input_shape; {hint}") from err


def output_path(ckpt_path: str, fmt: str, output: str | None) -> Path:
    """``output``, else the run folder of ``<run>/checkpoints/x.ckpt`` (else the checkpoint's folder)."""
    if output:
        return Path(output)
    folder = Path(ckpt_path).resolve().parent
    return (folder.parent if folder.name == "checkpoints" else folder) / FILE_NAMES[fmt]


def export(cfg: DictConfig) -> Path:
    """Write the checkpoint's network as ONNX or a torch.export program; returns the file's path."""
    from dlzoo.eval import load_task

    fmt = cfg.format
    if fmt not in FILE_NAMES:
        raise DlzooError(f"format must be one of {list(FILE_NAMES)}, got {fmt!r}")
    if fmt == "onnx":
        require_onnx()
    model, meta = load_task(cfg.ckpt_path)
    if meta["task"] not in EXPORTABLE_TASKS:
        raise DlzooError(
            f"{meta['task'].rpartition('.')[2]} checkpoints cannot be exported: dlzoo-export handles networks that "
            f"take one image or feature tensor ({', '.join(t.rpartition('.')[2] for t in EXPORTABLE_TASKS)})"
        )
    net = model.net.eval()
    param = next(net.parameters())
    x = torch.randn(EXAMPLE_BATCH, *example_shape(model, meta, cfg.get("input_shape")), dtype=param.dtype)
    path = output_path(cfg.ckpt_path, fmt, cfg.get("output"))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        program = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
        if fmt == "torch_export":
            torch.export.save(program, path)
        else:
            onnx_program = torch.onnx.export(program, dynamo=True, input_names=["input"], output_names=["output"], verbose=False)
            onnx_program.save(str(path))
    except Exception as err:  # a shape the network cannot take, an op the exporter lacks
        raise DlzooError(
            f"cannot export {type(net).__name__} for inputs of shape {tuple(x.shape)}: "
            f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
        ) from err
    print(path, flush=True)
    return path


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="export")
def _main(cfg: DictConfig) -> None:
    with exit_on_error("dlzoo-export"):
        export(cfg)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
