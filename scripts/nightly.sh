#!/usr/bin/env bash
# The nightly regression: install everything, then run the whole matrix (regress/nightly.yaml)
# two points at a time and diff it against regress/baseline.json. Outputs in
# build/regress/nightly/ (junit.xml, metrics.csv, summary.md, trend.png, history/); exit code
# non-zero on a failed check or a critical regression. Extra arguments go to asicflow regress
# (e.g. --update-baseline, --scheduler slurm --partition P, --jobs 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
rc=0
python -m asicflow regress regress/nightly.yaml --jobs 2 "$@" || rc=$?
# the full-size tests the test command leaves out (pytest -m nightly)
pytest -n 2 --dist worksteal -m nightly || rc=$?
exit "$rc"
