"""The detection bar: ``dlzoo-train experiment=yolo_shapes``, then a table of the mAP curve and the wall time.

    python scripts/yolo_shapes_bar.py [overrides...]     # e.g. trainer.max_epochs=6

Bar (issue 5): mAP@0.5 (VOC) >= 0.90 on held-out generated images within 15 minutes on 2 CPU cores.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from dlzoo.config import compose
from dlzoo.train import train


def main(overrides: list[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="yolo_shapes_"))
    cfg = compose([f"paths.output_dir={out}", "experiment=yolo_shapes", *overrides])
    start = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - start
    rows = [r for f in out.rglob("metrics.csv") for r in csv.DictReader(f.open()) if r.get("val/map_50")]
    print(f"\n{'epoch':>5} {'step':>5} {'val mAP@0.5':>12} {'val mAP@[.5:.95]':>17}")
    for r in rows:
        print(f"{r['epoch']:>5} {r['step']:>5} {float(r['val/map_50']):>12.4f} {float(r['val/map']):>17.4f}")
    metrics = json.loads((out / "metrics.json").read_text())
    print(f"\ntest mAP@0.5 {metrics['test/map_50']:.4f}  test mAP@[.5:.95] {metrics['test/map']:.4f}")
    print(f"wall {wall:.0f} s  load average {os.getloadavg()[0]:.1f}  run folder {out}")
    print("bar (mAP@0.5 >= 0.90 within 900 s):", "met" if metrics["test/map_50"] >= 0.9 and wall <= 900 else "NOT met")


if __name__ == "__main__":
    main(sys.argv[1:])
