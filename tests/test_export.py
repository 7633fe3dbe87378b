"""dlzoo-export: the ONNX file run in onnxruntime, and the torch.export program loaded back, give the
checkpoint's network outputs to 1e-4, for a batch size other than the export's example (the batch
axis is dynamic), for every CNN model config and the MLP; what cannot be exported is refused readably.

Checkpoints are built the cheap way: the model config bound to digits (moons for the MLP) as the
runner binds it, re-initialised and calibrated on random inputs so that its outputs depend on the
input at the scale of a trained network's (see ``calibrate``), saved through a Trainer.
AlexNet and VGG (55-130 M parameters in their 4096-wide fully connected layers: every export writes
and reads 0.2-0.5 GB) and ResNet-34 and deeper take 10-30 s each on a loaded 2-core machine: they
are ``slow``, as are MobileNetV2 (10-25 s: many small layers to translate) and the torch.export
round trip of the nets whose ONNX file is checked by default. The default suite checks ONNX for
LeNet-5 (both forms), the course's ConvNet, ResNet-18, GoogLeNet and the MLP (from a trained run,
through the command line), and the torch.export round trip for the MLP, LeNet-5 and the ConvNet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from dlzoo.config import compose, to_plain
from dlzoo.errors import DlzooError
from dlzoo.export import export
from dlzoo.tasks.base import build
from dlzoo.train import bind_net_to_data

ATOL = 1e-4
SMALL = ["data.upscale=8", "data.pad_to=64"]  # digits as 64x64 images, for the nets that need them (AlexNet)
MODELS = {  # model config -> overrides of the digits data
    "mlp": ["data=moons"],
    "lenet5": [],
    "lenet5_course": [],
    "signs_convnet": SMALL,
    "alexnet": SMALL,
    "resnet50_signs": SMALL,
    "googlenet": [],
    "mobilenet_v2": [],
    **{name: [] for name in ("vgg11", "vgg11_bn", "vgg13", "vgg16", "vgg16_bn", "vgg19")},
    **{f"resnet{depth}": [] for depth in (18, 34, 50, 101, 152)},
}
ONNX_DEFAULT = {"lenet5", "lenet5_course", "signs_convnet", "resnet18", "googlenet"}
TORCH_EXPORT_DEFAULT = {"mlp", "lenet5", "signs_convnet"}  # ONNX of the MLP: the command-line test


def cases(default: set[str]) -> list:
    return [pytest.param(name, overrides, id=name, marks=() if name in default else pytest.mark.slow) for name, overrides in MODELS.items()]


def save_checkpoint(folder: Path, *overrides: str) -> Path:
    """``<folder>/checkpoints/last.ckpt`` of the config's task with a freshly built network, with the
    dlzoo metadata the runner stores (data config, data state, precision)."""
    cfg = compose([f"paths.output_dir={folder}", "logger=none", *overrides])
    datamodule = build(to_plain(cfg.data))
    datamodule.setup("fit")
    bind_net_to_data(cfg.model.net, datamodule.net_sizes(), "model", "data")
    torch.manual_seed(0)
    model = build(to_plain(cfg.model), _recursive_=False)
    if hasattr(datamodule, "input_shape"):  # image and feature data (not token sequences)
        calibrate(model.net, datamodule.input_shape)
    model.run_metadata = {"data": to_plain(cfg.data), "precision": "32-true", "data_state": datamodule.checkpoint_metadata()}
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    path = folder / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    return path


def calibrate(net: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Make a random-init network's outputs depend on its input at a trained network's scale: He-initialise
    (gain 1) every weight layer (PyTorch's default init shrinks a signal about threefold a layer), draw the
    batch-norm statistics near (0, 1), then scale the last linear layer so the outputs have unit standard
    deviation (residual stacks otherwise reach 1e4). Statistics measured on random inputs instead leave
    channels with a variance near 0 that amplify rounding errors a hundredfold, past 1e-4 in float32
    PyTorch itself (against float64) for the bottleneck ResNets."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    called: list[nn.Linear] = []
    hooks = [m.register_forward_hook(lambda m, i, o: called.append(m)) for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        scale = net.eval()(torch.randn(8, *input_shape)).std()
        called[-1].weight /= scale
        if called[-1].bias is not None:
            called[-1].bias /= scale
    for hook in hooks:
        hook.remove()


def run_export(ckpt: Path, fmt: str, *overrides: str) -> Path:
    return export(compose([f"ckpt_path={ckpt}", f"format={fmt}", *overrides], config_name="export"))


def reference(ckpt: Path, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of inputs shaped as the run's examples and the checkpoint's network outputs in eval mode."""
    from dlzoo.eval import load_task

    model, meta = load_task(str(ckpt))
    net = model.net.eval()
    x = torch.randn(batch, *build(meta["data"]).input_shape)
    with torch.no_grad():
        return x, net(x)


def checkpoint_and_reference(folder: Path, model: str, overrides: list[str]) -> tuple[Path, torch.Tensor, torch.Tensor]:
    ckpt = save_checkpoint(folder, f"model={model}", *overrides)
    x, expected = reference(ckpt, batch=3)  # the export's example has 2
    assert (expected - expected.mean(0)).abs().max() > 100 * ATOL  # outputs differ by example: parity means something
    return ckpt, x, expected


@pytest.mark.parametrize("model, overrides", cases(ONNX_DEFAULT))
def test_onnx_file_in_onnxruntime_gives_the_networks_outputs(tmp_path, model, overrides):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'dlzoo[export]'")
    pytest.importorskip("onnxscript", reason="onnxscript not installed: pip install 'dlzoo[export]'")
    ckpt, x, expected = checkpoint_and_reference(tmp_path, model, overrides)
    path = run_export(ckpt, "onnx")
    assert path == tmp_path / "model.onnx"  # the run folder, above checkpoints/
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("model, overrides", cases(TORCH_EXPORT_DEFAULT))
def test_torch_export_program_round_trip_gives_the_networks_outputs(tmp_path, model, overrides):
    ckpt, x, expected = checkpoint_and_reference(tmp_path, model, overrides)
    path = run_export(ckpt, "torch_export")
    assert path == tmp_path / "model.pt2"
    torch.testing.assert_close(torch.export.load(path).module()(x), expected, atol=ATOL, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["localization_shapes", "landmarks_shapes", "yolo_shapes"])
def test_localization_and_detection_nets_export_at_the_datas_image_size(tmp_path, experiment):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'dlzoo[export]'")
    from dlzoo.eval import load_task

    ckpt = save_checkpoint(tmp_path, f"experiment={experiment}")
    model, meta = load_task(str(ckpt))
    side = meta["data_state"]["image_size"]  # the example's size comes from here: these data modules have no input_shape
    x = torch.randn(3, 3, side, side)
    with torch.no_grad():
        expected = model.net.eval()(x)  # (3, outputs) or YOLO's (3, S, S, A, 5 + K)
    (got,) = ort.InferenceSession(str(run_export(ckpt, "onnx")), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.export.load(run_export(ckpt, "torch_export")).module()(x), expected, atol=ATOL, rtol=0)


def test_command_line_export_of_a_trained_run(run, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'dlzoo[export]'")
    _, run_dir = run("model=mlp", "data=moons", "trainer.max_epochs=1")
    out = tmp_path / "exported" / "mlp.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "dlzoo.export", f"ckpt_path={run_dir}/checkpoints/last.ckpt", f"output={out}",
         f"hydra.run.dir={tmp_path}/export_run"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "0"}, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(out)
    import onnxruntime as ort

    x, expected = reference(run_dir / "checkpoints" / "last.ckpt", batch=5)
    (got,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, atol=ATOL, rtol=0)
    assert json.loads((run_dir / "metrics.json").read_text())  # the run the export came from finished


def test_sequence_models_are_refused_by_name(tmp_path):
    ckpt = save_checkpoint(tmp_path, "experiment=next_parity_birnn")
    with pytest.raises(DlzooError, match=r"SequenceLabelingTask checkpoints cannot be exported.*ClassificationTask"):
        run_export(ckpt, "torch_export")


def test_missing_onnx_packages_say_how_to_install_them(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else find_spec(name, *a))
    with pytest.raises(DlzooError, match=r"format=onnx needs onnxscript: pip install 'dlzoo\[export\]'"):
        run_export(tmp_path / "never_read.ckpt", "onnx")


def test_unknown_format_and_wrong_input_shape(tmp_path):
    with pytest.raises(DlzooError, match="format must be one of"):
        run_export(tmp_path / "never_read.ckpt", "tflite")
    ckpt = save_checkpoint(tmp_path, "model=lenet5")
    with pytest.raises(DlzooError, match=r"cannot export LeNet5 for inputs of shape \(2, 1, 8, 8\)"):
        run_export(ckpt, "torch_export", "input_shape=[1,8,8]")
