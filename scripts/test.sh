#!/usr/bin/env bash
# README command 2 (and .ci/run): install everything, then lint, type-check and run the fast
# tier: every test but the full-size ones marked 'nightly' (scripts/nightly.sh runs those), on
# two pytest workers (the longest runs first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
ruff check asicflow tests bench verification dodo.py
mypy
# A compiler cache for this run's g++ calls (Debian's ccache wrappers first on PATH): the tests
# build dozens of Verilator models, each compiling the same Verilator runtime (~15 CPU-seconds),
# and the same kernels again and again. The cache lives in the checkout (.cache/, ignored by git).
if [ -d /usr/lib/ccache ]; then
  export PATH="/usr/lib/ccache:$PATH"
  export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
  # generated sources are always new files: compare contents, not time stamps
  export CCACHE_SLOPPINESS="include_file_mtime,include_file_ctime,time_macros,pch_defines"
fi
pytest -n 2 --dist worksteal -m "not nightly" "$@"
