"""Build and run the TMR fault-injection campaign with cocotb's Python runner (a child process).

``python -m asicflow.fault_run --sim icarus --top T --source top.v --build-dir sim_build
--stimuli stimuli.npz --faults faults.json --result result.json`` (started by
``asicflow.tmr.campaign`` through the flow's subprocess helper). The testbench is
``verification/test_tmr_faults.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from asicflow.rtl.cosim_run import TESTBENCH_DIR, TIMESCALE

TEST_MODULE = "test_tmr_faults"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m asicflow.fault_run")
    p.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    p.add_argument("--top", required=True)
    p.add_argument("--source", required=True, type=Path)
    p.add_argument("--build-dir", required=True, type=Path)
    p.add_argument("--stimuli", required=True, type=Path)
    p.add_argument("--faults", required=True, type=Path)
    p.add_argument("--result", required=True, type=Path)
    args = p.parse_args(argv)
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # the runner changes behaviour under pytest
    from cocotb_tools.runner import get_runner

    runner = get_runner(args.sim)
    build = args.build_dir.resolve()
    runner.build(
        sources=[args.source.resolve()],
        hdl_toplevel=args.top,
        build_dir=build,
        timescale=TIMESCALE,
        always=True,
    )
    sys.path.insert(0, str(TESTBENCH_DIR))  # the runner exports sys.path to the simulator
    args.result.unlink(missing_ok=True)
    runner.test(
        test_module=TEST_MODULE,
        hdl_toplevel=args.top,
        hdl_toplevel_lang="verilog",
        build_dir=build,
        test_dir=build,
        extra_env={
            "ASICFLOW_STIMULI": str(args.stimuli.resolve()),
            "ASICFLOW_FAULTS": str(args.faults.resolve()),
            "ASICFLOW_RESULT": str(args.result.resolve()),
        },
        timescale=TIMESCALE,
        results_xml=str(build / "results.xml"),
    )
    return 0 if args.result.is_file() else 1


if __name__ == "__main__":
    raise SystemExit(main())
