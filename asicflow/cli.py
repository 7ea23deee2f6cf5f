"""Command line: ``asicflow run FLOW.yaml --to STEP``, ``asicflow keys``, ``asicflow steps``,
``asicflow i2c-writes``, ``asicflow regress MATRIX.yaml``.

``run`` drives the same doit tasks as ``dodo.py`` (for that one flow), so results,
incrementality and build folders are identical. Errors print one message and exit non-zero;
``--debug`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from asicflow.errors import AsicflowError

EXIT_FAILED = 1
EXIT_USAGE = 2


def _cmd_run(args: argparse.Namespace) -> int:
    from asicflow.config import FLOWS_ENV, load_flow

    flow = load_flow(Path(args.flow))  # report configuration problems before doit starts

    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from asicflow import tasks
    from asicflow.registry import BY_NAME

    if args.to not in BY_NAME:
        raise AsicflowError(f"unknown step '{args.to}'; steps: {', '.join(BY_NAME)}")
    os.environ[FLOWS_ENV] = str(Path(args.flow).resolve())
    if args.debug:
        os.environ[tasks.DEBUG_ENV] = "1"
    _trust(args)
    from asicflow.buildfolder import flow_folder, locked
    from asicflow.config import build_root

    namespace = {"DOIT_CONFIG": tasks.doit_config(), **tasks.all_tasks()}
    argv = ["run", f"{args.to}:{flow.name}"]
    if args.always:
        argv.insert(1, "--always-execute")
    # One run of a flow at a time: a second one is refused, naming this one.
    with locked(flow_folder(build_root(), flow.name)):
        return int(DoitMain(ModuleTaskLoader(namespace)).run(argv))


TRUST_HELP = (
    "allow the model files to run the Python code they hold (Lambda layers, custom "
    "functions) while they are loaded: only for files you trust (default: refused)"
)


def _trust(args: argparse.Namespace) -> None:
    if getattr(args, "trust_model_code", False):
        os.environ["ASICFLOW_TRUST_MODEL_CODE"] = "1"


def _cmd_keys(_: argparse.Namespace) -> int:
    from asicflow import schema
    from asicflow.config import FlowConfig

    print("| key | type | default | meaning |\n|---|---|---|---|")
    for k, t, d, doc in schema.describe(FlowConfig):
        print(f"| `{k}` | {t} | `{d}` | {doc} |")
    return 0


def _cmd_i2c_writes(args: argparse.Namespace) -> int:
    from asicflow.config import build_root, load_flow
    from asicflow.i2c.program import program
    from asicflow.i2c.regmap import RegisterMap

    flow = load_flow(Path(args.flow))
    _trust(args)
    regmap_file = build_root() / flow.name / "i2c" / "regmap.json"
    if not regmap_file.is_file():
        raise AsicflowError(
            f"no register map at {regmap_file}: run 'asicflow run {args.flow} --to i2c' first "
            "(the flow needs options.i2c_weights: true)"
        )
    n = program(flow, Path(args.model), RegisterMap.load(regmap_file), Path(args.out))
    print(f"{n} I2C write transactions: {Path(args.out) / 'writes.txt'} (and writes.json)")
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    from asicflow.regress.command import regress

    summary = regress(
        Path(args.matrix),
        out=Path(args.out) if args.out else None,
        jobs=args.jobs,
        scheduler=args.scheduler,
        partition=args.partition,
        update_baseline=args.update_baseline,
        baseline_file=Path(args.baseline) if args.baseline else None,
    )
    print(f"regress: {summary['points']} points passed; {summary['out']}/summary.md")
    return 0


def _cmd_steps(_: argparse.Namespace) -> int:
    from asicflow.registry import STEPS

    for s in STEPS:
        print(f"{s.name:<10} {s.doc}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asicflow", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one flow up to a step (incremental, like doit)")
    r.add_argument("flow", help="flow YAML file")
    r.add_argument("--to", default="report", help="last step to run (default: report)")
    r.add_argument("--always", action="store_true", help="rerun the step even if up to date")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    r.add_argument("--trust-model-code", action="store_true", help=TRUST_HELP)
    r.set_defaults(func=_cmd_run)
    sub.add_parser("keys", help="print the flow YAML reference").set_defaults(func=_cmd_keys)
    sub.add_parser("steps", help="list the flow's steps").set_defaults(func=_cmd_steps)
    w = sub.add_parser(
        "i2c-writes", help="a retrained model's weights as I2C write transactions for the chip"
    )
    w.add_argument("flow", help="the flow YAML the chip was built from (options.i2c_weights)")
    w.add_argument("model", help="the retrained model (.h5), same architecture and quantizers")
    w.add_argument("--out", required=True, help="folder for writes.txt, writes.json, params.npz")
    w.add_argument("--trust-model-code", action="store_true", help=TRUST_HELP)
    w.set_defaults(func=_cmd_i2c_writes)
    g = sub.add_parser("regress", help="run a regression matrix, diff it against its baseline")
    g.add_argument("matrix", help="matrix YAML, e.g. regress/nightly.yaml")
    g.add_argument("--jobs", type=int, default=1, help="points at a time (default 1)")
    g.add_argument("--scheduler", choices=("local", "slurm"), default="local")
    g.add_argument("--partition", default="", help="slurm: the partition (default: the default)")
    g.add_argument("--out", help="output folder (default build/regress/<matrix name>)")
    g.add_argument("--baseline", help="baseline JSON (default: the matrix's 'baseline')")
    g.add_argument("--update-baseline", action="store_true", help="write this run as baseline")
    g.set_defaults(func=_cmd_regress)
    return p


def child_entry(child_main: Callable[[list[str]], int]) -> NoReturn:
    """Entry of the child processes steps start through the one subprocess helper
    (``python -m asicflow.pyosys_run``, ``asicflow.steps.convert``, ...): the only place besides
    :func:`main` that turns a result into the process's exit code."""
    try:
        code = child_main(sys.argv[1:])
    except AsicflowError as exc:
        print(f"asicflow: error: {exc}", file=sys.stderr)
        code = EXIT_FAILED
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AsicflowError as exc:
        print(f"asicflow: error: {exc}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
