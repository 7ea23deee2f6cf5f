"""Build and run one cocotb testbench with cocotb's Python runner (a child process).

``python -m asicflow.cocotb_run --sim icarus --top T --source top.v --build-dir sim_build
--test-module test_tmr_faults --env ASICFLOW_FAULTS=faults.json --result result.json``

Started through the flow's one subprocess helper by the steps that run their own
testbenches from ``verification/`` (TMR fault injection, I2C weight loading, gate-level
simulation). ``--env`` paths are passed on as given; relative ones are made absolute here.
The testbench writes ``--result``; without it the run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from asicflow.errors import AsicflowError
from asicflow.rtl.cosim_run import TESTBENCH_DIR, TIMESCALE

# make splits words on white space and gives these characters a meaning of their own.
MAKE_UNSAFE = frozenset(" \t\n#$:%*?\"'`;&|<>()[]{}!=\\")


def check_make_paths(build: Path) -> None:
    """Say up front when cocotb's build cannot run: it goes through make, which cannot work
    with a path holding a space or a make/shell special character (it fails with a cocotb
    traceback far from the cause). ``build``: the build folder (flow and step names are
    plain identifiers, so the step folder is plain when it is)."""
    import importlib.util

    spec = importlib.util.find_spec("cocotb_tools")
    places = [
        (build.resolve(), "set ASICFLOW_BUILD to a build folder whose path has none"),
        (TESTBENCH_DIR, "use a copy of asicflow whose path has none"),
        (Path(sys.prefix), "use a Python environment whose path has none"),
    ]
    if spec is not None and spec.origin:
        places.append((Path(spec.origin).parent, "install cocotb in a path that has none"))
    for path, fix in places:
        bad = sorted(set(str(path)) & MAKE_UNSAFE)
        if bad:
            chars = " ".join(repr(c) for c in bad)
            raise AsicflowError(
                f"cocotb builds the simulation with make, which cannot work under {path}: "
                f"the path holds {chars}; {fix}"
            )


def command(
    sim: str,
    top: str,
    sources: Sequence[str],
    test_module: str,
    env: Mapping[str, str],
    defines: Sequence[str] = (),
    build_args: Sequence[str] = (),
) -> list[str]:
    """The child command line (paths as the caller wants them written in ``commands.sh``);
    it builds in ``sim_build/`` and writes ``result.json`` in the current folder."""
    return [
        sys.executable,
        "-m",
        "asicflow.cocotb_run",
        "--sim",
        sim,
        "--top",
        top,
        *[a for s in sources for a in ("--source", s)],
        "--build-dir",
        "sim_build",
        "--test-module",
        test_module,
        *[a for k, v in env.items() for a in ("--env", f"{k}={v}")],
        *[a for d in defines for a in ("--define", d)],
        *[f"--build-arg={a}" for a in build_args],
        "--result",
        "result.json",
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m asicflow.cocotb_run")
    p.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    p.add_argument("--top", required=True)
    p.add_argument("--source", required=True, type=Path, action="append")
    p.add_argument("--build-dir", required=True, type=Path)
    p.add_argument("--test-module", required=True)
    p.add_argument("--env", action="append", default=[], help="KEY=PATH for the testbench")
    p.add_argument("--define", action="append", default=[], help="NAME or NAME=VALUE")
    p.add_argument("--build-arg", action="append", default=[], help="extra simulator flag")
    p.add_argument("--result", required=True, type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # the runner changes behaviour under pytest
    from cocotb_tools.runner import get_runner

    runner = get_runner(args.sim)
    build = args.build_dir.resolve()
    defines = dict(d.split("=", 1) if "=" in d else (d, "") for d in args.define)
    runner.build(
        sources=[s.resolve() for s in args.source],
        hdl_toplevel=args.top,
        build_dir=build,
        timescale=TIMESCALE,
        defines=defines,
        build_args=list(args.build_arg),
        always=True,
    )
    for pch in build.glob("*.gch"):  # Verilator's precompiled headers: ~140 MB
        pch.unlink()
    sys.path.insert(0, str(TESTBENCH_DIR))  # the runner exports sys.path to the simulator
    env = {}
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = str(Path(value).resolve())
    args.result.unlink(missing_ok=True)
    env["ASICFLOW_RESULT"] = str(args.result.resolve())
    runner.test(
        test_module=args.test_module,
        hdl_toplevel=args.top,
        hdl_toplevel_lang="verilog",
        build_dir=build,
        test_dir=build,
        extra_env=env,
        timescale=TIMESCALE,
        results_xml=str(build / "results.xml"),
    )
    return 0 if args.result.is_file() else 1


if __name__ == "__main__":
    raise SystemExit(main())
