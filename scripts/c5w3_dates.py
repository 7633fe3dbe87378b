"""The C5W3 date-translation bar: ``dlzoo-train experiment=c5w3_dates_attention`` and its no-attention
baseline, each timed as a whole command (data generation, training, final evaluation), with the metrics of
the 2,000 held-out test dates.

    python scripts/c5w3_dates.py [--out runs/c5w3_bar] [--experiments c5w3_dates_attention ...] [-- OVERRIDES]

Prints a markdown table. The load average is printed beside each time: on a CPU shared with other
processes the wall time measures them too. Exit status 1 when the attention run misses its bar (test exact
match >= 0.99 within 600 s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BAR_ACC, BAR_SECONDS = 0.99, 600.0


def run_experiment(name: str, out: Path, overrides: list[str]) -> tuple[dict[str, float], float, tuple[float, float]]:
    """Metrics, wall seconds and the 1-minute load average before and after one ``dlzoo-train`` command."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "dlzoo.train", f"experiment={name}", "logger=csv", f"hydra.run.dir={out / name}", *overrides],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads((out / name / "metrics.json").read_text()), wall, (load_before, os.getloadavg()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/c5w3_bar"))
    parser.add_argument("--experiments", nargs="+", default=["c5w3_dates_attention", "c5w3_dates_no_attention"])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (after --)")
    args = parser.parse_args()

    print("| experiment | test exact match (greedy) | beam 5 | test token acc | test BLEU | val exact match "
          "| epochs | wall (s) | load avg (1 min, before/after) |\n|---|---|---|---|---|---|---|---|---|")
    passed = True
    for name in args.experiments:
        m, wall, (before, after) = run_experiment(name, args.out, args.overrides)
        print(f"| {name} | {m['test/acc']:.4f} | {m.get('test/beam_acc', float('nan')):.4f} | "
              f"{m['test/token_acc']:.4f} | {m['test/bleu']:.2f} | {m['val/acc']:.4f} | {m['epochs']:.0f} | "
              f"{wall:.0f} | {before:.1f} / {after:.1f} |", flush=True)
        if name == "c5w3_dates_attention":
            passed = m["test/acc"] >= BAR_ACC and wall <= BAR_SECONDS
    print(f"\nbar: c5w3_dates_attention test exact match >= {BAR_ACC} within {BAR_SECONDS:.0f} s -> "
          f"{'met' if passed else 'MISSED'}; {os.cpu_count()} CPUs")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
