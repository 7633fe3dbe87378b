"""Every experiment for one batch on CUDA, then the GPU-only paths (bf16, torch.compile) for real.

    python scripts/gpu_check.py [--experiments a b ...] [--accelerator gpu|cpu]

Called by scripts/gpu_check.sh. Each experiment runs in this process through ``dlzoo.train.train``
with ``trainer=gpu debug=fdr`` (one training, validation and test batch); one whose dataset is not
on the machine is reported as skipped, as in the test suite. Then the default job trains in full
on the GPU (bf16-mixed), and once more with ``model.compile=true``. Prints markdown tables; exits 1
if anything failed. ``--accelerator cpu`` runs the same on the CPU (to check the script itself).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from dlzoo.config import CONFIG_DIR, compose
from dlzoo.errors import is_missing_data
from dlzoo.train import train

def run(out: Path, *overrides: str) -> tuple[dict, float]:
    data_dir = os.environ.get("DLZOO_DATA_DIR")
    start = time.perf_counter()
    train(compose([f"paths.output_dir={out}", "logger=none", *([f"paths.data_dir={data_dir}"] if data_dir else []),
                   *overrides]))
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="*", default=sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
    parser.add_argument("--accelerator", default="gpu", choices=["gpu", "cpu"])
    parser.add_argument("--full-epochs", type=int, default=40, help="epochs of the default job's full runs")
    args = parser.parse_args()
    trainer = ["trainer=gpu"] if args.accelerator == "gpu" else ["trainer=cpu"]
    failed = 0
    root = Path(tempfile.mkdtemp(prefix="gpu_check_"))

    print("| experiment (debug=fdr) | result | seconds |\n|---|---|---:|", flush=True)
    for name in args.experiments:
        start = time.perf_counter()
        try:
            run(root / name, f"experiment={name}", *trainer, "debug=fdr", "++trainer.enable_progress_bar=false")
            result = "ok"
        except Exception as err:  # report and go on: one table for every experiment
            if is_missing_data(err):
                print(f"| {name} | skipped: data absent | |", flush=True)
                continue
            failed += 1
            result = f"FAILED: {type(err).__name__}: {str(err).splitlines()[0][:150]}"
            traceback.print_exc(file=sys.stderr)
        print(f"| {name} | {result} | {time.perf_counter() - start:.1f} |", flush=True)

    print(f"\n| default job (LeNet-5, digits), {args.full_epochs} epochs | test/acc | seconds |\n|---|---:|---:|")
    variants = {trainer[0]: [], f"{trainer[0]} model.compile=true": ["model.compile=true"]}
    for label, extra in variants.items():
        try:
            metrics, seconds = run(root / label.replace(" ", "_").replace("=", "-"), *trainer, f"trainer.max_epochs={args.full_epochs}",
                                   "++trainer.enable_progress_bar=false", *extra)
            print(f"| {label} | {metrics['test/acc']:.4f} | {seconds:.1f} |", flush=True)
        except Exception as err:
            failed += 1
            print(f"| {label} | FAILED: {type(err).__name__}: {str(err).splitlines()[0][:150]} | |", flush=True)
            traceback.print_exc(file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
