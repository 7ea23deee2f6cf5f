"""Step ``design_check``: static design rules on the HLS C++ and the no-overflow proof.

The design (the hls project without its testbench: ``firmware/`` with the ``hls_src`` kernels)
is copied into ``src/`` and analyzed as it is synthesized (``ASICFLOW_TRACE`` off) by cppcheck
and clang-tidy with HLS-relevant checks, plus asicflow's HLS rules on cppcheck's parse; the IR
gives the range proof (:mod:`asicflow.checks.ranges`). Every finding is filed under one rule of
:data:`asicflow.checks.RULES` (which also says which tool enforces it). ``report.md`` and
``report.json`` are written in any case; any violation fails the step naming rule, file, line.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from asicflow.checks import RULES, Finding
from asicflow.checks import clang_tidy as ct
from asicflow.checks import cppcheck as cc
from asicflow.checks.findings import dedupe
from asicflow.checks.ranges import Bound, prove
from asicflow.errors import CheckFailed, ToolFailed
from asicflow.hls import ac_include_dir, ac_version, read_project
from asicflow.ir import Graph
from asicflow.runner import tail, which
from asicflow.steps.base import Step, StepContext, write_json
from asicflow.steps.hls import HlsStep

SRC = "src"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
TYPES_H = "firmware/types.h"
# The synthesized configuration: the csim trace hooks compile to nothing.
DESIGN_DEFINES = ("-UASICFLOW_TRACE",)
MESSAGE_MAX = 25


class DesignCheckStep(Step):
    name = "design_check"
    reads = ("hls.cxxflags", "hls.ac_include")
    needs = ("convert/graph.json", "convert/weights.npz", *(f"hls/{o}" for o in HlsStep.outputs))
    outputs = (REPORT_MD, REPORT_JSON)
    doc = (
        "static design checks of the HLS C++ (cppcheck, clang-tidy, HLS rules) and the "
        "no-overflow range proof from the IR"
    )

    def run(self, ctx: StepContext) -> dict[str, Any]:
        cppcheck = which("cppcheck", cc.HINT)
        clang_tidy = which("clang-tidy", ct.HINT)
        include = ac_include_dir(ctx.flow.hls.ac_include)
        ctx.versions["cppcheck"] = _version(ctx, [cppcheck, "--version"])
        ctx.versions["clang-tidy"] = _version(ctx, [clang_tidy, "--version"])
        ctx.versions["ac_types"] = f"{ac_version(include)} ({include})"

        hls_dir = ctx.input("hls", "project.json").parent
        project = read_project(hls_dir)
        src = ctx.dir / SRC
        for rel in project["files"]:
            if rel not in (project["testbench"], "project.json"):
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(hls_dir / rel, src / rel)
        std, defines = _language(ctx.flow.hls.cxxflags)
        includes = [f"{SRC}/{i}" for i in project["include"]]

        findings: list[Finding] = []
        notes: list[str] = []
        times = {"cppcheck": 0.0, "clang-tidy": 0.0}
        for source in project["sources"]:
            stem = Path(source).name
            start = time.monotonic()
            xml = f"cppcheck.{stem}.xml"
            ctx.run(
                cc.argv(cppcheck, f"{SRC}/{source}", includes, defines, xml, std), tool="cppcheck"
            )
            found, left = cc.parse_xml(ctx.dir / xml, ctx.dir, src)
            dump = src / f"{source}.dump"
            found += cc.hls_rules(dump, ctx.dir, src)
            dump.unlink()  # large (every token); the command above recreates it
            findings += found
            notes += left
            times["cppcheck"] += time.monotonic() - start

            start = time.monotonic()
            export = f"clang-tidy.{stem}.yaml"
            rc = ctx.run(
                ct.argv(
                    clang_tidy, f"{SRC}/{source}", includes, [str(include)], defines, export, std
                ),
                tool="clang-tidy",
                check=False,
            )
            found, left = ct.parse_export(ctx.dir / export, src)
            if rc.returncode != 0 and not any(f.check == "clang-diagnostic-error" for f in found):
                raise ToolFailed("clang-tidy", f"exit code {rc.returncode}", ctx.log, tail(ctx.log))
            findings += found
            notes += left
            times["clang-tidy"] += time.monotonic() - start

        graph = Graph.load(ctx.input("convert", "graph.json").parent)
        bounds = prove(graph)
        findings += _range_findings(bounds, (src / TYPES_H).read_text().splitlines())
        findings = dedupe(findings)
        notes = sorted(set(notes))

        report = {
            "flow": ctx.flow.name,
            "passed": not findings,
            "paths": f"relative to {hls_dir}",
            "violations": [f.to_dict() for f in findings],
            "rules": {
                r.name: {
                    "meaning": r.meaning,
                    "enforced_by": list(r.enforced_by),
                    "violations": sum(f.rule == r.name for f in findings),
                }
                for r in RULES.values()
            },
            "ranges": [b.to_dict() for b in bounds],
            "notes": notes,
            "tools": dict(ctx.versions),
        }
        write_json(ctx.dir / REPORT_JSON, report)
        (ctx.dir / REPORT_MD).write_text(
            render(ctx.flow.name, findings, bounds, notes, ctx.versions)
        )
        for f in findings:
            ctx.note(f"design_check: {f.describe()}")
        if findings:
            listing = "\n  ".join(f.describe() for f in findings[:MESSAGE_MAX])
            more = (
                f"\n  ... and {len(findings) - MESSAGE_MAX} more"
                if len(findings) > MESSAGE_MAX
                else ""
            )
            raise CheckFailed(
                f"design_check: {len(findings)} design rule violation(s) (paths relative to "
                f"{hls_dir}; firmware/asicflow/ holds copies of hls_src/asicflow/):\n  "
                f"{listing}{more}\n  report: {ctx.flow_dir}/{self.name}.failed/{REPORT_MD}"
            )
        ctx.note(
            f"design_check: no violations ({len(bounds)} stored values proven, "
            f"{len(notes)} notes)"
        )
        metrics: dict[str, Any] = {"design_check__violations": 0}
        metrics.update({f"design_check__violations__{r.replace('-', '_')}": 0 for r in RULES})
        metrics.update(
            {
                "design_check__range__values": len(bounds),
                "design_check__range__saturating": sum(b.status == "saturates" for b in bounds),
                "design_check__notes": len(notes),
                "design_check__cppcheck_s": round(times["cppcheck"], 3),
                "design_check__clang_tidy_s": round(times["clang-tidy"], 3),
            }
        )
        return metrics


def _language(cxxflags: list[str]) -> tuple[str, list[str]]:
    """The C++ standard and the -D/-U flags of the csim flags (they select the code)."""
    std = "c++17"
    defines: list[str] = []
    for f in cxxflags:
        if f.startswith("-std="):
            std = f.removeprefix("-std=")
        elif re.match(r"-[DU]\w", f):
            defines.append(f)
    return std, [*defines, *DESIGN_DEFINES]


def _typedef_line(types_h: list[str], layer: str, accumulator: bool) -> int:
    """The line of ``types.h`` declaring a layer's output (or accumulator) type."""
    start = next((i for i, ln in enumerate(types_h) if ln.startswith(f"// {layer}: ")), None)
    if start is None:
        return 0
    for i in range(start + 1, len(types_h)):
        ln = types_h[i]
        if ln.startswith("// "):
            break
        if ln.startswith("typedef") and (not accumulator or ln.rstrip().endswith("_acc_t;")):
            return i + 1
    return start + 1


def _range_findings(bounds: list[Bound], types_h: list[str]) -> list[Finding]:
    out = []
    for b in bounds:
        if b.ok:
            continue
        lo, hi = b.real
        acc = b.what == "accumulator"
        rule = "accumulator-overflow" if acc else "wrap-overflow"
        what = "accumulator" if acc else "output"
        msg = (
            f"layer '{b.layer}' (Keras '{b.source}'): {what} values span [{lo:g}, {hi:g}] "
            f"but {b.type.ac()} holds [{b.type.min:g}, {b.type.max:g}]; {b.note}"
            if acc
            else f"layer '{b.layer}' (Keras '{b.source}'): values cast into the AC_WRAP type "
            f"{b.type.ac()} span [{lo:g}, {hi:g}] but the type holds "
            f"[{b.type.min:g}, {b.type.max:g}], so they wrap"
        )
        out.append(
            Finding(
                rule, TYPES_H, _typedef_line(types_h, b.layer, acc), "asicflow", "irRangeProof", msg
            )
        )
    return out


def _version(ctx: StepContext, argv: list[str]) -> str:
    """The line of a ``--version`` output that names the version (read back from the log)."""
    start = ctx.log.stat().st_size if ctx.log.exists() else 0
    ctx.run(argv, tool=Path(argv[0]).name)
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines()[1:]]
    return next((ln for ln in lines if re.search(r"version|\d+\.\d+", ln, re.I)), "?")


def render(
    flow: str,
    findings: list[Finding],
    bounds: list[Bound],
    notes: list[str],
    versions: dict[str, str],
) -> str:
    """The Markdown report."""
    verdict = (
        "PASSED: no rule is broken" if not findings else f"FAILED: {len(findings)} violation(s)"
    )
    lines = [
        f"# design_check: {flow}",
        "",
        f"**{verdict}.** Paths are relative to the HLS "
        "project folder (`build/<flow>/hls/`); `firmware/asicflow/` holds copies of "
        "`hls_src/asicflow/`. Tools: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + ".",
        "",
        "## Rules",
        "| rule | meaning | enforced by | violations |",
        "|---|---|---|---|",
    ]
    for r in RULES.values():
        n = sum(f.rule == r.name for f in findings)
        lines.append(f"| {r.name} | {r.meaning} | {'; '.join(r.enforced_by)} | {n} |")
    lines += ["", "## Violations"]
    if not findings:
        lines.append("None.")
    for f in findings:
        lines.append(f"- **{f.rule}** `{f.where}`: {f.message} ({f.tool} `{f.check}`)")
    lines += [
        "",
        "## Range proof (declared input range, constant weights)",
        "| layer | value | bound | type | type range | verdict | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in bounds:
        lo, hi = b.real
        lines.append(
            f"| {b.layer} | {b.what} | [{lo:g}, {hi:g}] | `{b.type.short()}` | "
            f"[{b.type.min:g}, {b.type.max:g}] | {b.status} | {b.note} |"
        )
    if notes:
        lines += ["", "## Notes (not rules)", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"
