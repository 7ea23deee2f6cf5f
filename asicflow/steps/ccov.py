"""Steps ``ccov`` (C code coverage of the HLS C++ under the stimuli) and ``ccov_check``.

``ccov`` builds the csim testbench with ``g++ --coverage -O0``, runs every stimulus through it
and asks gcovr for line and branch coverage of the design only: the generated ``firmware/``
files and the ``hls_src`` kernels copied there (the testbench and the ac_types headers are
outside the filter). It measures and reports; it does not judge.

``ccov_check`` is the judge (a LibreLane-style checker step): it compares the figures with
``checks.coverage_line_min`` / ``checks.coverage_branch_min`` and fails naming the uncovered
lines. Kept apart so that changing a threshold reruns only the check, and so the HTML report of
a run that misses the threshold is still published in ``ccov/`` for inspection.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from asicflow.errors import CheckFailed, ConfigError, ToolMissing
from asicflow.hls import ac_include_dir, ac_version, compile_argv, read_project
from asicflow.hls.cxx import CXX_HINT
from asicflow.runner import which
from asicflow.steps.base import Step, StepContext, write_json
from asicflow.steps.hls import HlsStep

BINARY = "ccov"
GCOVR_HINT = "Install the project's Python packages (bash scripts/setup.sh; gcovr==8.2 is pinned)."
GCOV_HINT = (
    "gcov comes with GCC (Debian: apt-get install gcc); for clang++ install llvm "
    "(llvm-cov gcov)."
)
# gcovr's exclusions that make branch coverage mean "decisions in the source": branches only
# taken when an exception is thrown, and compiler-made branches on lines without code.
GCOVR_BRANCH_FILTERS = ("--exclude-throw-branches", "--exclude-unreachable-branches")
# Uncovered locations kept in metrics.json (all of them are in uncovered.json).
METRIC_LIST_MAX = 100

COVERAGE_JSON = "coverage.json"
SUMMARY_JSON = "coverage_summary.json"
UNCOVERED_JSON = "uncovered.json"
HTML = "html/index.html"


class CcovStep(Step):
    name = "ccov"
    reads = ("hls.cxx", "hls.cxxflags", "hls.ac_include")
    needs = (*(f"hls/{out}" for out in HlsStep.outputs), "golden/inputs.txt", "golden/outputs.txt")
    outputs = (COVERAGE_JSON, SUMMARY_JSON, UNCOVERED_JSON, HTML)
    doc = "C code coverage (line + branch, gcovr) of the HLS C++ under every stimulus"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cxx = which(ctx.flow.hls.cxx, CXX_HINT)
        gcov = gcov_for(cxx)
        if importlib.util.find_spec("gcovr") is None:
            raise ToolMissing("gcovr", GCOVR_HINT)
        include = ac_include_dir(ctx.flow.hls.ac_include)
        ctx.versions["cxx"] = _first_line(ctx, [cxx, "--version"])
        ctx.versions["gcovr"] = _first_line(ctx, [sys.executable, "-m", "gcovr", "--version"])
        ctx.versions["ac_types"] = f"{ac_version(include)} ({include})"

        hls_dir = ctx.input("hls", "project.json").parent
        project = read_project(hls_dir)
        start = time.monotonic()
        sources = [_rel(ctx, hls_dir / s) for s in (project["testbench"], *project["sources"])]
        includes = [_rel(ctx, hls_dir / i) for i in project["include"]]
        ctx.run(
            compile_argv(
                cxx, coverage_flags(ctx.flow.hls.cxxflags), [*includes, include], sources, BINARY
            ),
            tool=Path(cxx).name,
        )
        compile_s = time.monotonic() - start

        start = time.monotonic()
        ctx.run(
            [
                f"./{BINARY}",
                *(
                    [_rel(ctx, hls_dir / project["params_file"])]
                    if project.get("params_file")
                    else []
                ),
                _rel(ctx, ctx.input("golden", "inputs.txt")),
                "outputs.txt",
            ],
            tool=BINARY,
        )
        run_s = time.monotonic() - start
        expected = ctx.input("golden", "outputs.txt").read_text()
        if (ctx.dir / "outputs.txt").read_text().split() != expected.split():
            raise CheckFailed(
                "ccov: the coverage build's outputs differ from the golden model's "
                "(csim compares them vector by vector)"
            )
        n = sum(1 for row in expected.splitlines() if row.strip())

        start = time.monotonic()
        (ctx.dir / HTML).parent.mkdir(parents=True, exist_ok=True)
        hls_rel = _rel(ctx, hls_dir)
        ctx.run(
            [
                sys.executable,
                "-m",
                "gcovr",
                "--root",
                hls_rel,
                "--filter",
                f"{hls_rel}/firmware/",
                "--gcov-executable",
                gcov,
                *GCOVR_BRANCH_FILTERS,
                "--html-details",
                HTML,
                "--html-title",
                f"{ctx.flow.name}: C code coverage",
                "--json",
                COVERAGE_JSON,
                "--json-summary",
                SUMMARY_JSON,
                "--txt",
                "coverage.txt",
                ".",
            ],
            tool="gcovr",
        )
        gcovr_s = time.monotonic() - start

        summary = json.loads((ctx.dir / SUMMARY_JSON).read_text())
        lines, branches = uncovered(json.loads((ctx.dir / COVERAGE_JSON).read_text()))
        write_json(ctx.dir / UNCOVERED_JSON, {"lines": lines, "branches": branches})
        line_pct, branch_pct = percent(summary, "line"), percent(summary, "branch")
        ctx.note(
            f"ccov: {n} vectors, lines {line_pct:.2f} % of {summary['line_total']}, "
            f"branches {branch_pct:.2f} % of {summary['branch_total']}; compile "
            f"{compile_s:.2f} s, run {run_s:.3f} s, gcovr {gcovr_s:.2f} s"
        )
        for loc in lines:
            ctx.note(f"ccov: line not executed: {loc}")
        for loc in branches:
            ctx.note(f"ccov: branch not taken: {loc}")
        return {
            "ccov__vectors": n,
            "ccov__line_percent": line_pct,
            "ccov__branch_percent": branch_pct,
            "ccov__lines_total": summary["line_total"],
            "ccov__lines_uncovered": summary["line_total"] - summary["line_covered"],
            "ccov__branches_total": summary["branch_total"],
            "ccov__branches_uncovered": summary["branch_total"] - summary["branch_covered"],
            "ccov__uncovered_lines": lines[:METRIC_LIST_MAX],
            "ccov__uncovered_branches": branches[:METRIC_LIST_MAX],
            "ccov__compile_s": round(compile_s, 3),
            "ccov__run_s": round(run_s, 4),
            "ccov__gcovr_s": round(gcovr_s, 3),
        }


class CcovCheckStep(Step):
    name = "ccov_check"
    reads = ("checks.coverage_line_min", "checks.coverage_branch_min")
    needs = (f"ccov/{SUMMARY_JSON}", f"ccov/{UNCOVERED_JSON}")
    doc = "fail when C code coverage is below checks.coverage_line_min / coverage_branch_min"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        line_min = ctx.flow.checks.coverage_line_min
        branch_min = ctx.flow.checks.coverage_branch_min
        bad = [
            f"'checks.{k}' is {v}; give a percentage in 0..100"
            for k, v in (("coverage_line_min", line_min), ("coverage_branch_min", branch_min))
            if not 0.0 <= v <= 100.0
        ]
        if bad:
            raise ConfigError(str(ctx.flow.source), bad)
        summary = json.loads(ctx.input("ccov", SUMMARY_JSON).read_text())
        missed = json.loads(ctx.input("ccov", UNCOVERED_JSON).read_text())
        line_pct, branch_pct = percent(summary, "line"), percent(summary, "branch")
        problems = []
        if line_pct < line_min:
            problems.append(
                f"line coverage {line_pct:.2f} % < checks.coverage_line_min "
                f"{line_min:g} %; lines never executed: "
                f"{_listing(missed['lines'])}"
            )
        if branch_pct < branch_min:
            problems.append(
                f"branch coverage {branch_pct:.2f} % < checks.coverage_branch_min "
                f"{branch_min:g} %; branches never taken: "
                f"{_listing(missed['branches'])}"
            )
        report = ctx.input("ccov", HTML)
        for p in problems:
            ctx.note(f"ccov_check: {p}")
        if problems:
            raise CheckFailed(
                "ccov_check: "
                + "\n  ".join(problems)
                + f"\n  (paths relative to {ctx.input('hls', '')}; "
                f"firmware/asicflow/ holds copies of hls_src/asicflow/; "
                f"report: {report})"
            )
        ctx.note(
            f"ccov_check: lines {line_pct:.2f} % >= {line_min:g} %, branches "
            f"{branch_pct:.2f} % >= {branch_min:g} %"
        )
        return {
            "ccov_check__passed": True,
            "ccov_check__line_min": line_min,
            "ccov_check__branch_min": branch_min,
        }


def coverage_flags(flags: list[str]) -> list[str]:
    """The csim flags without optimisation, plus ``-O0 --coverage`` (counts match the source)."""
    return [f for f in flags if not re.fullmatch(r"-O.*", f)] + ["-O0", "--coverage"]


def gcov_for(cxx: str) -> str:
    """The gcov matching compiler ``cxx`` (``g++-12`` -> ``gcov-12``; clang -> llvm-cov gcov)."""
    name = Path(cxx).name
    if "clang" in name:
        which("llvm-cov", GCOV_HINT)
        return "llvm-cov gcov"
    gcov = name.replace("g++", "gcov") if "g++" in name else "gcov"
    beside = Path(cxx).parent / gcov
    return str(beside) if beside.is_file() else which(gcov, GCOV_HINT)


def percent(summary: dict[str, Any], kind: str) -> float:
    """``line``/``branch`` coverage in % from a gcovr summary; nothing to cover counts as 100."""
    if not summary.get(f"{kind}_total"):
        return 100.0
    return round(100.0 * summary[f"{kind}_covered"] / summary[f"{kind}_total"], 2)


def uncovered(coverage: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``file:line`` of lines never executed and of lines with a branch never taken."""
    lines: list[str] = []
    branches: list[str] = []
    for f in sorted(coverage["files"], key=lambda f: f["file"]):
        for ln in f["lines"]:
            if ln.get("gcovr/excluded") or ln.get("gcovr/noncode"):
                continue
            where = f"{f['file']}:{ln['line_number']}"
            if ln["count"] == 0:
                lines.append(where)
            missed = sum(1 for b in ln.get("branches", []) if b["count"] == 0)
            if missed:
                total = len(ln["branches"])
                branches.append(f"{where} ({missed} of {total} branches never taken)")
    return lines, branches


def _listing(items: list[str], limit: int = 20) -> str:
    if not items:
        return "(none listed)"
    more = (
        f", ... ({len(items) - limit} more in ccov/{UNCOVERED_JSON})" if len(items) > limit else ""
    )
    return ", ".join(items[:limit]) + more


def _rel(ctx: StepContext, path: Path) -> str:
    """``path`` relative to the step folder (valid both in the scratch and the final folder)."""
    return os.path.relpath(path, ctx.dir)


def _first_line(ctx: StepContext, argv: list[str]) -> str:
    """First line a ``--version`` command prints (read back from the step log)."""
    start = ctx.log.stat().st_size if ctx.log.exists() else 0
    ctx.run(argv, tool=Path(argv[0]).name)
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        lines = fh.read().decode(errors="replace").splitlines()
    return lines[1].strip() if len(lines) > 1 else "?"
