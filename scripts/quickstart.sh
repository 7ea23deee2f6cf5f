#!/usr/bin/env bash
# README command 1: install everything, then run the default flow (digits_mlp) end to end:
# convert -> golden -> hls -> csim -> rtl -> rtl_cosim -> synth -> sta -> report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
doit report:digits_mlp
echo
echo "report: build/digits_mlp/report.md"
cat build/digits_mlp/report.md
