#!/usr/bin/env bash
# README command 2 (and .ci/run): install everything, then lint, type-check and run every test,
# the heavy end-to-end ones included, on two pytest workers (the longest runs first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
ruff check asicflow tests bench verification dodo.py
mypy
pytest -n 2 --dist worksteal "$@"
