"""Run every benchmark script and write their tables into one markdown file.

    python scripts/bench_all.py [--output BENCHMARKS.md] [--only cnn runner ...] [--quick]

Each bench_*.py runs in its own process, one after the other (never two at once: they time the same
cores). The file's header describes the machine: CPU model and cores, memory, GPU, library versions
and the load average before each run, since numbers from a busy machine mean little. ``--quick``
passes each script fewer repeats (a check that they all run, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
# name: (arguments, arguments with --quick)
BENCHES = {
    "runner": ([], ["--repeats", "1"]),
    "cnn": ([], ["--rounds-scale", "0.1", "--models", "LeNet-5", "ResNet-18"]),
    "rnn": ([], ["--repeats", "1"]),
    "beam": ([], ["--repeats", "1"]),
    "detection": ([], ["--repeats", "1", "--sizes", "1000", "10000", "--images", "500"]),
    "word2vec": ([], ["--repeats", "1", "--epochs", "1"]),
}


def machine() -> list[str]:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    memory = ""
    if Path("/proc/meminfo").exists():
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB memory"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    import lightning

    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores{memory}",
        f"- GPU: {gpu}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, lightning {lightning.__version__}",
        f"- data: {os.environ.get('DLZOO_DATA_DIR') or 'DLZOO_DATA_DIR unset (rows that need files are skipped)'}",
    ]


def markdown(output: list[str]) -> list[str]:
    """A script's output as markdown: its markdown tables as they are, other text in code blocks."""
    blocks: list[list[str]] = []
    for line in output:
        if not blocks or blocks[-1][0].startswith("|") != line.startswith("|"):
            blocks.append([])
        blocks[-1].append(line)
    lines: list[str] = []
    for block in blocks:
        lines += [*block, ""] if block[0].startswith("|") else ["```", *block, "```", ""]
    return lines


def previous_sections(text: str) -> dict[str, list[str]]:
    """The ``## bench_<name>`` sections of an earlier BENCHMARKS.md, by name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## bench_"):
            current = sections.setdefault(line.removeprefix("## bench_").strip(), [])
        if current is not None:
            current.append(line)
    return sections


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=SCRIPTS.parent / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), default=list(BENCHES))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# dlzoo benchmarks, {stamp}", "", "Written by `python scripts/bench_all.py`"
             f"{' --quick (not a measurement)' if args.quick else ''}. Machine:", "", *machine(), ""]
    sections: dict[str, list[str]] = {}
    failures = 0
    for name in args.only:
        full, quick = BENCHES[name]
        command = [sys.executable, str(SCRIPTS / f"bench_{name}.py"), *(quick if args.quick else full)]
        shown = " ".join(["python", f"scripts/bench_{name}.py", *command[2:]])
        load = os.getloadavg()[0]
        print(f"[bench_all] {shown} (load {load:.2f})", flush=True)
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        seconds = time.perf_counter() - start
        section = [f"## bench_{name}", "", f"`{shown}`: {seconds:.0f} s, {stamp}, load average {load:.2f} before", ""]
        table = [line for line in result.stdout.splitlines() if line.strip()]
        section += markdown(table)
        if result.returncode != 0:
            failures += 1
            section += [f"**exit {result.returncode}**:", "```", *result.stderr.strip().splitlines()[-15:], "```", ""]
        sections[name] = section
        print("\n".join(table), flush=True)
    if args.output.exists() and set(args.only) != set(BENCHES):  # a partial run keeps the other sections
        sections = {**previous_sections(args.output.read_text()), **sections}
    for name in BENCHES:
        lines += sections.get(name, [])
    args.output.write_text("\n".join(lines))
    print(f"[bench_all] wrote {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
