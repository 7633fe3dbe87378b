#!/usr/bin/env bash
# One prepared check for a CUDA machine: the tests that need CUDA, every experiment for one batch on the
# GPU, the default job in full (bf16-mixed, then with torch.compile), then the throughput benchmarks on
# CUDA. Under 8 minutes on one H100 (355 s measured). Writes OUT_DIR/gpu_check.md (the tables) and
# OUT_DIR/gpu_check.log (everything else).
#
#   DLZOO_DATA_DIR=/path/to/data bash scripts/gpu_check.sh [OUT_DIR]
#
# Set PYTHON to the interpreter that has dlzoo's dependencies (default: python).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check}"
mkdir -p "$out"
report="$out/gpu_check.md"
log="$out/gpu_check.log"
py="${PYTHON:-python}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failures=0

{
  echo "# dlzoo GPU check, $(date -u +%Y-%m-%d)"
  echo
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
  echo "- CPU: $(nproc) cores; $("$py" -c 'import torch, lightning; print(f"torch {torch.__version__}, lightning {lightning.__version__}, CUDA {torch.version.cuda}")')"
  echo "- data: ${DLZOO_DATA_DIR:-none (experiments that need files are skipped)}"
} > "$report"

section() {  # section TITLE COMMAND...: runs COMMAND, its stdout into the report, its stderr into the log
  local title=$1 start=$SECONDS rc
  shift
  printf '\n## %s\n\n' "$title" >> "$report"
  echo "=== $title: $*" >> "$log"
  "$@" >> "$report" 2>> "$log"
  rc=$?
  printf '\n(%s: exit %d, %d s)\n' "$title" "$rc" "$((SECONDS - start))" >> "$report"
  [ "$rc" -eq 0 ] || failures=$((failures + 1))
}

section "Tests that need CUDA" "$py" -m pytest -q -p no:cacheprovider -k cuda tests
section "Experiments on CUDA, and the default job in full" "$py" scripts/gpu_check.py
section "bench_cnn" "$py" scripts/bench_cnn.py --device cuda --rounds-scale 0.34
section "bench_runner" "$py" scripts/bench_runner.py --device cuda --repeats 1 --cases mlp256 lenet5 char_lstm
section "bench_rnn" "$py" scripts/bench_rnn.py --devices cuda --repeats 3
section "bench_word2vec" "$py" scripts/bench_word2vec.py --repeats 1

printf '\n%d section(s) failed; total %d s\n' "$failures" "$SECONDS" >> "$report"
cat "$report"
[ "$failures" -eq 0 ]
