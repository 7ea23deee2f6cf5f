#!/usr/bin/env bash
# Install everything asicflow needs on a Debian 12 machine: Debian packages (when missing)
# and the project's Python environment in .venv. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v sta >/dev/null 2>&1 || need_apt+=(opensta)
command -v cppcheck >/dev/null 2>&1 || need_apt+=(cppcheck)
command -v clang-tidy >/dev/null 2>&1 || need_apt+=(clang-tidy)
command -v ccache >/dev/null 2>&1 || need_apt+=(ccache)  # compiler cache of the test runs (scripts/test.sh)
command -v yosys >/dev/null 2>&1 || need_apt+=(yosys)  # reference synthesis recipe (bench/bench_qor.py)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.asicflow-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
echo "setup: done"
