"""Reproduce the published numbers of Courses 1 and 2 and print them beside dlzoo's.

Runs every c1*/c2* experiment config in-process (``dlzoo.config.compose`` + ``dlzoo.train.train``),
``--jobs`` at a time in worker processes, plus the C1W3 hidden-layer-size sweep, and prints a
Markdown table: experiment | quantity | published | dlzoo | match. The published numbers are the
notebooks' expected outputs (../shared/COURSE_TARGETS.md). A bar is one of

    exact      the same number of correctly classified examples as the published accuracy
    4 digits   the printed cost to 4 significant digits
    1 example  within one example of the published accuracy
    +-tol      within tol of the published cost

    DLZOO_DATA_DIR=../shared/data python scripts/reproduce_course.py            # everything, 2 workers
    python scripts/reproduce_course.py --only c2w1_init_he c2w2_adam --jobs 1   # a few runs
    python scripts/reproduce_course.py --no-sweep                              # skip the C1W3 sweep

Run folders (metrics.json, costs.csv, cost.png, decision_boundary.png) go under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWEEP_SIZES = [1, 2, 3, 4, 5, 20, 50]


@dataclass(frozen=True)
class Bar:
    run: str  # a key of runs()
    quantity: str  # what the course printed
    metric: str  # the metrics.json key
    published: str  # as the course prints it
    rule: str  # "exact", "sig4", "example" (within one example) or "tol:<x>"
    scale: float = 1.0  # the course prints accuracy in percent: 100
    note: str = ""


BARS = [
    Bar("c1w2_logreg_cat", "cost after iteration 1900", "train/cost", "0.140872", "sig4"),
    Bar("c1w2_logreg_cat", "train accuracy (%)", "train/acc", "99.04306220095694", "exact", 100),
    Bar("c1w2_logreg_cat", "test accuracy (%)", "test/acc", "70.0", "exact", 100),
    Bar("c1w3_planar", "cost after iteration 9000", "train/cost", "0.218607", "tol:0.0002"),
    Bar("c1w3_planar", "accuracy (%), printed as int", "train/acc", "90", "int", 100),
    Bar("c1w4_two_layer", "cost after iteration 2400", "train/cost", "0.048554785628770226", "sig4"),
    Bar("c1w4_two_layer", "train accuracy", "train/acc", "1.0", "exact"),
    Bar("c1w4_two_layer", "test accuracy", "test/acc", "0.72", "exact"),
    Bar("c1w4_deep", "cost after iteration 2400", "train/cost", "0.092878", "sig4"),
    Bar("c1w4_deep", "train accuracy", "train/acc", "0.985645933014", "exact"),
    Bar("c1w4_deep", "test accuracy", "test/acc", "0.8", "exact"),
    Bar("c2w1_init_zeros", "cost after iteration 14000", "train/cost", "0.6931471805599453", "sig4"),
    Bar("c2w1_init_zeros", "train accuracy", "train/acc", "0.5", "exact"),
    Bar("c2w1_init_zeros", "test accuracy", "test/acc", "0.5", "exact"),
    Bar("c2w1_init_random", "train accuracy", "train/acc", "0.83", "example"),
    Bar("c2w1_init_random", "test accuracy", "test/acc", "0.86", "example"),
    Bar("c2w1_init_he", "cost after iteration 14000", "train/cost", "0.07357895962677366", "sig4"),
    Bar("c2w1_init_he", "train accuracy", "train/acc", "0.99333", "exact"),
    Bar("c2w1_init_he", "test accuracy", "test/acc", "0.96", "exact"),
    Bar("c2w1_reg_none", "cost after iteration 20000", "train/cost", "0.13851642423255986", "sig4"),
    Bar("c2w1_reg_none", "train accuracy", "train/acc", "0.9478672985781991", "exact"),
    Bar("c2w1_reg_none", "test accuracy", "test/acc", "0.915", "exact"),
    Bar("c2w1_reg_l2", "train accuracy", "train/acc", "0.9383886255924171", "exact"),
    Bar("c2w1_reg_l2", "test accuracy", "test/acc", "0.93", "exact"),
    Bar("c2w1_reg_dropout", "train accuracy", "train/acc", "0.9289099526066351", "example"),
    Bar("c2w1_reg_dropout", "test accuracy", "test/acc", "0.95", "example"),
    Bar("c2w2_gd", "train accuracy, 5000 epochs", "train/acc", "0.7167", "example"),
    Bar("c2w2_momentum", "train accuracy, 5000 epochs", "train/acc", "0.7167", "example"),
    Bar("c2w2_adam", "train accuracy, 5000 epochs", "train/acc", "0.9433", "example"),
    Bar("c2w2_gd_decay", "train accuracy, 5000 epochs", "train/acc", "0.9433", "example"),
    Bar("c2w2_momentum_decay", "train accuracy, 5000 epochs", "train/acc", "0.9533", "example"),
    Bar("c2w2_adam_decay", "train accuracy, 5000 epochs", "train/acc", "0.94", "example"),
]
SWEEP_PUBLISHED = {1: "67.5", 2: "67.25", 3: "90.75", 4: "90.5", 5: "91.25", 20: "90.0", 50: "90.25"}
SWEEP_NOTE = (
    "C1W3 at lr 1.2 oscillates (its cost rises between iterations 7000 and 8000), so last-digit rounding "
    "differences between NumPy's and torch's kernels grow into other decisions on a few points; a NumPy port "
    "of the notebook misses other rows (0.218560 at it9000, 90.5 % with 20 units)"
)
# (train, test) examples of each family of runs, to turn accuracies into counts
SIZES = {
    "c1w2": (209, 50), "c1w3": (400, 0), "c1w4": (209, 50), "c2w1_init": (300, 100), "c2w1_reg": (211, 200), "c2w2": (300, 0)
}
# Heaviest first, so the workers finish together.
ORDER = ["c2w1_reg_dropout", "c2w1_reg_none", "c2w1_reg_l2", "c1w4_deep", "c1w4_two_layer"]


def runs(sweep: bool) -> dict[str, list[str]]:
    """Run name -> the overrides that make it."""
    names = [p.stem for p in (REPO / "configs" / "experiment").glob("c[12]w*.yaml")]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    table = {name: [f"experiment={name}"] for name in names}
    for n in SWEEP_SIZES if sweep else []:
        table[f"c1w3_planar_h{n}"] = ["experiment=c1w3_planar", "trainer.max_epochs=5000", f"model.net.hidden_sizes=[{n}]"]
    return table


def all_bars(sweep: bool) -> list[Bar]:
    sizes = SWEEP_SIZES if sweep else []
    quantity = "sweep: {} hidden units, 5000 it (%)"
    return BARS + [
        Bar(f"c1w3_planar_h{n}", quantity.format(n), "train/acc", SWEEP_PUBLISHED[n], "exact", 100, SWEEP_NOTE) for n in sizes
    ]


def examples(run: str, metric: str) -> int:
    train, test = next(v for k, v in SIZES.items() if run.startswith(k))
    return train if metric.startswith("train") else test


def judge(bar: Bar, value: float) -> tuple[str, bool]:
    """(dlzoo's value as printed for the comparison, whether it meets the bar)."""
    shown = value * bar.scale
    published = float(bar.published)
    if bar.rule == "sig4":
        return f"{shown:.10g}", f"{shown:.4g}" == f"{published:.4g}"
    if bar.rule == "int":
        return f"{shown:.10g} -> {int(shown)}", int(shown) == int(published)
    if bar.rule.startswith("tol:"):
        return f"{shown:.6f}", abs(shown - published) <= float(bar.rule[4:])
    m = examples(bar.run, bar.metric)  # accuracies: compare the numbers of correct examples
    difference = abs(round(value * m) - round(published / bar.scale * m))
    return f"{shown:.16g}", difference <= (1 if bar.rule == "example" else 0)


RULE_TEXT = {"sig4": "4 digits", "exact": "exact", "int": "exact", "example": "1 example"}


def table(bars: list[Bar], results: dict[str, dict]) -> tuple[str, int]:
    lines = ["| experiment | quantity | published | dlzoo | match |", "|---|---|---|---|---|"]
    failures = 0
    for bar in bars:
        result = results.get(bar.run)
        rule = RULE_TEXT.get(bar.rule, "+-" + bar.rule[4:])
        if result is None or "error" in result:
            shown, ok = f"not run: {result['error'] if result else 'skipped'}", False
        else:
            shown, ok = judge(bar, result["metrics"][bar.metric])
        failures += not ok
        mark = f"yes ({rule})" if ok else f"NO ({rule}){': ' + bar.note if bar.note else ''}"
        lines.append(f"| {bar.run} | {bar.quantity} | {bar.published} | {shown} | {mark} |")
    return "\n".join(lines), failures


def run_one(name: str, overrides: list[str], out: str) -> dict:
    """One training run in this (worker) process; its metrics and wall-clock seconds."""
    import logging
    import warnings

    from dlzoo.config import compose
    from dlzoo.train import train

    warnings.filterwarnings("ignore")
    for logger in ("lightning.pytorch", "lightning.fabric"):  # after their import, which sets them to INFO
        logging.getLogger(logger).setLevel(logging.ERROR)

    folder = Path(out) / name
    start, cpu = time.perf_counter(), time.process_time()
    quiet = ["logger=none", "callbacks.cost_history.verbose=false"]
    cfg = compose([f"paths.output_dir={folder}", *quiet, *overrides])
    with contextlib.redirect_stdout(io.StringIO()):  # the runner's one-line summary; the table says it
        train(cfg)
    seconds = {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
    return {"metrics": json.loads((folder / "metrics.json").read_text()), **seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one torch thread each (default 2)")
    parser.add_argument("--only", nargs="*", help="run names to run (default: all)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the C1W3 hidden-size sweep")
    parser.add_argument("--out", default=str(REPO / "runs" / "reproduce_course"), help="where the run folders go")
    args = parser.parse_args()

    todo = runs(sweep=not args.no_sweep)
    if args.only:
        unknown = sorted(set(args.only) - set(todo))
        if unknown:
            parser.error(f"unknown runs {unknown}; choose from {sorted(todo)}")
        todo = {k: v for k, v in todo.items() if k in args.only}
    data = os.environ.get("DLZOO_DATA_DIR")
    if data:
        todo = {k: [*v, f"paths.data_dir={Path(data).resolve()}"] for k, v in todo.items()}

    start = time.perf_counter()
    results: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_one, name, overrides, args.out): name for name, overrides in todo.items()}
        for future in as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
                took = f"{results[name]['seconds']:.1f} s ({results[name]['cpu_seconds']:.1f} s CPU)"
                print(f"  {name}: {took}", file=sys.stderr, flush=True)
            except Exception as err:  # a missing data file, say: reported in the table, not fatal
                results[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
                print(f"  {name}: {results[name]['error']}", file=sys.stderr, flush=True)
    total = time.perf_counter() - start

    bars = [b for b in all_bars(sweep=not args.no_sweep) if b.run in todo]
    text, failures = table(bars, results)
    print(text)
    cpu = sum(r.get("cpu_seconds", 0.0) for r in results.values())
    print(f"\n{len(bars) - failures}/{len(bars)} bars met; {len(todo)} runs in {total:.0f} s with {args.jobs} worker(s)", end="")
    print(f" ({cpu:.0f} CPU seconds in the runs).")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
