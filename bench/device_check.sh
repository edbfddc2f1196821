#!/usr/bin/env bash
# One-GPU device check: encode docs/s (fp16, bf16 vs SentenceTransformer.encode), contrastive and cached-LEAD
# training samples/s, and the quickstart's wall time with GPU settings, as one Markdown table.
#
#   bash bench/device_check.sh                      # on a machine with one NVIDIA GPU (under 8 minutes)
#   bash bench/device_check.sh --dry-run            # anywhere: the same code on the CPU at toy sizes
#   bash bench/device_check.sh --out results.md     # where the table goes (default: device_check.md)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
export IR_DATASETS_HOME="${IR_DATASETS_HOME:-$repo/.cache/ir_datasets}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$repo/.cache/numba}"
if [[ " $* " != *" --dry-run "* ]] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec timeout 480 "$python" "$here/device_check.py" "$@"
