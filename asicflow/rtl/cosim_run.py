"""Build or run the cocotb co-simulation through ``cocotb_tools.runner`` (a child process).

The ``rtl_cosim`` step starts this module with ``python -m asicflow.rtl.cosim_run`` through
its one subprocess helper, so the runner's own simulator processes log into the step log and
both commands land in ``commands.sh``::

    python -m asicflow.rtl.cosim_run build --sim verilator --top mlp --source ../rtl/top.v \\
        --build-dir sim_build
    python -m asicflow.rtl.cosim_run test --sim verilator --top mlp --build-dir sim_build \\
        --testbench-dir <project>/verification --stimuli ... --rtl-json ... --result result.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

TEST_MODULE = "test_network"
# The testbench lives beside the package in a source checkout: <project>/verification.
TESTBENCH_DIR = Path(__file__).resolve().parents[2] / "verification"
TIMESCALE = ("1ns", "1ps")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m asicflow.rtl.cosim_run")
    sub = p.add_subparsers(dest="action", required=True)
    for name in ("build", "test"):
        s = sub.add_parser(name)
        s.add_argument("--sim", required=True, choices=("verilator", "icarus"))
        s.add_argument("--top", required=True)
        s.add_argument("--build-dir", required=True, type=Path)
    b = sub.choices["build"]
    b.add_argument("--source", required=True, type=Path, action="append")
    t = sub.choices["test"]
    t.add_argument("--testbench-dir", required=True, type=Path)
    t.add_argument("--test-dir", required=True, type=Path)
    t.add_argument("--stimuli", type=Path)
    t.add_argument("--rtl-json", type=Path)
    t.add_argument("--result", type=Path)
    t.add_argument(
        "--suite",
        type=Path,
        help="JSON list of runs {rtl_json, stimuli, graph_dir, params, result, seed} checked "
        "one after the other in one simulation (instead of --stimuli/--rtl-json/--result)",
    )
    t.add_argument("--graph-dir", type=Path)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--params", type=Path, help="npz of parameter arrays for params_in")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # the runner changes behaviour under pytest
    from cocotb_tools.runner import get_results, get_runner

    runner = get_runner(args.sim)
    if args.action == "build":
        runner.build(
            sources=[s.resolve() for s in args.source],
            hdl_toplevel=args.top,
            build_dir=args.build_dir.resolve(),
            timescale=TIMESCALE,
            always=True,
        )
        for pch in args.build_dir.glob("*.gch"):  # Verilator's precompiled headers: ~140 MB
            pch.unlink()
        return 0
    sys.path.insert(0, str(args.testbench_dir.resolve()))  # the runner exports sys.path
    if args.suite is not None:
        env = {"ASICFLOW_SUITE": str(args.suite.resolve())}
        results = [Path(r["result"]) for r in json.loads(args.suite.read_text())]
    elif args.stimuli and args.rtl_json and args.result:
        env = {
            "ASICFLOW_STIMULI": str(args.stimuli.resolve()),
            "ASICFLOW_RTL_JSON": str(args.rtl_json.resolve()),
            "ASICFLOW_RESULT": str(args.result.resolve()),
            "ASICFLOW_SEED": str(args.seed),
        }
        results = [args.result]
    else:
        raise SystemExit("test: give --suite, or --stimuli, --rtl-json and --result")
    if args.graph_dir is not None:
        env["ASICFLOW_GRAPH_DIR"] = str(args.graph_dir.resolve())
    if args.params is not None:
        env["ASICFLOW_PARAMS"] = str(args.params.resolve())
    for r in results:
        r.unlink(missing_ok=True)
    xml = runner.test(
        test_module=TEST_MODULE,
        hdl_toplevel=args.top,
        hdl_toplevel_lang="verilog",
        build_dir=args.build_dir.resolve(),
        test_dir=args.test_dir.resolve(),
        extra_env=env,
        timescale=TIMESCALE,
        results_xml=str((args.test_dir / "results.xml").resolve()),
    )
    try:
        tests, failed = get_results(xml)
        logging.getLogger("cosim").info("%d cocotb test(s), %d failed", tests, failed)
    except RuntimeError as exc:
        logging.getLogger("cosim").error("%s", exc)
    # A failing comparison is reported by the step from the result file; no result = error.
    return 0 if all(r.is_file() for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
