"""Step ``csim``: compile the HLS C++ with its testbench and compare every stimulus with golden.

A mismatch is located by layer: a second build with ``-DASICFLOW_TRACE`` writes every layer's
raw outputs up to the first mismatching stimulus, compared with the golden per-layer outputs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from asicflow.errors import AsicflowError, CheckFailed
from asicflow.fixed import IntArray
from asicflow.golden import first_divergence
from asicflow.hls import ac_include_dir, ac_version, compile_argv, read_project, read_trace
from asicflow.hls.cxx import CXX_HINT
from asicflow.ir import Graph
from asicflow.runner import which
from asicflow.steps.base import Step, StepContext
from asicflow.steps.hls import HlsStep
from asicflow.stimuli import load_stimuli, read_text_matrix

BINARY = "csim"
TRACE_BINARY = "csim_trace"


class CsimStep(Step):
    name = "csim"
    reads = ("hls.cxx", "hls.cxxflags", "hls.ac_include")
    needs = (
        "convert/graph.json",
        "convert/weights.npz",
        *(f"hls/{out}" for out in HlsStep.outputs),
        "golden/inputs.txt",
        "golden/outputs.txt",
        "golden/stimuli.npz",
    )
    outputs = ("outputs.txt",)
    doc = "C simulation of the HLS C++ (g++ + ac_types) against the golden model, bit exact"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        graph = Graph.load(ctx.input("convert", "graph.json").parent)
        cxx = which(ctx.flow.hls.cxx, CXX_HINT)
        include = ac_include_dir(ctx.flow.hls.ac_include)
        ctx.versions["cxx"] = _version(ctx, cxx)
        ctx.versions["ac_types"] = f"{ac_version(include)} ({include})"

        start = time.monotonic()
        _build(ctx, cxx, include, BINARY)
        compile_s = time.monotonic() - start
        inputs = _rel(ctx, ctx.input("golden", "inputs.txt"))
        start = time.monotonic()
        ctx.run([f"./{BINARY}", *_params(ctx), inputs, "outputs.txt"], tool=BINARY)
        run_s = time.monotonic() - start

        n_out = graph.output.size
        expected = read_text_matrix(ctx.input("golden", "outputs.txt"), n_out)
        actual = read_text_matrix(ctx.dir / "outputs.txt", n_out)
        if actual.shape != expected.shape:
            raise CheckFailed(
                f"csim wrote {actual.shape[0]} output vectors, the golden model "
                f"has {expected.shape[0]}"
            )
        bad = np.flatnonzero((actual != expected).any(axis=1))
        n = int(expected.shape[0])
        ctx.note(
            f"csim: {n} vectors, {len(bad)} mismatches, compile {compile_s:.2f} s, "
            f"run {run_s:.3f} s"
        )
        if bad.size:
            raise CheckFailed(_mismatch_report(ctx, cxx, include, graph, expected, actual, bad))
        return {
            "csim__vectors": n,
            "csim__mismatches": 0,
            "csim__compile_s": round(compile_s, 3),
            "csim__run_s": round(run_s, 4),
            "csim__vectors_per_s": round(n / run_s) if run_s > 0 else None,
        }


def _rel(ctx: StepContext, path: Path) -> str:
    """``path`` relative to the step folder (valid both in the scratch and the final folder)."""
    return os.path.relpath(path, ctx.dir)


def _params(ctx: StepContext) -> list[str]:
    """The testbench's weight-file argument of a weights-as-inputs project (else none)."""
    hls_dir = ctx.input("hls", "project.json").parent
    params = read_project(hls_dir).get("params_file")
    return [_rel(ctx, hls_dir / params)] if params else []


def _build(
    ctx: StepContext, cxx: str, include: Path, binary: str, defines: tuple[str, ...] = ()
) -> None:
    hls_dir = ctx.input("hls", "project.json").parent
    project = read_project(hls_dir)
    sources = [_rel(ctx, hls_dir / s) for s in (project["testbench"], *project["sources"])]
    includes = [_rel(ctx, hls_dir / i) for i in project["include"]]
    ctx.run(
        compile_argv(cxx, ctx.flow.hls.cxxflags, [*includes, include], sources, binary, defines),
        tool=Path(cxx).name,
    )


def _version(ctx: StepContext, cxx: str) -> str:
    """First line the compiler prints for ``--version`` (read back from the step log)."""
    start = ctx.log.stat().st_size if ctx.log.exists() else 0
    ctx.run([cxx, "--version"], tool=Path(cxx).name)
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        lines = fh.read().decode(errors="replace").splitlines()
    return lines[1].strip() if len(lines) > 1 else "?"


def _mismatch_report(
    ctx: StepContext,
    cxx: str,
    include: Path,
    graph: Graph,
    expected: IntArray,
    actual: IntArray,
    bad: IntArray,
) -> str:
    first = int(bad[0])
    j = int(np.flatnonzero(expected[first] != actual[first])[0])
    head = (
        f"csim: {len(bad)} of {expected.shape[0]} vectors differ from the golden model; "
        f"first: stimulus {first}, output {j}: expected raw {int(expected[first, j])}, "
        f"got {int(actual[first, j])}"
    )
    try:
        where = _trace_divergence(ctx, cxx, include, graph, first)
    except AsicflowError as exc:
        where = f"could not trace the layers: {exc}"
    return f"{head}\n  first divergence: {where}\n  outputs and trace: {ctx.flow_dir}/csim.failed/"


def _trace_divergence(ctx: StepContext, cxx: str, include: Path, graph: Graph, first: int) -> str:
    """Trace every layer for stimuli 0..first and name the first layer that differs."""
    _build(ctx, cxx, include, TRACE_BINARY, ("ASICFLOW_TRACE",))
    inputs = _rel(ctx, ctx.input("golden", "inputs.txt"))
    ctx.run(
        [
            f"./{TRACE_BINARY}",
            *_params(ctx),
            inputs,
            "trace_outputs.txt",
            "trace.txt",
            "0",
            str(first + 1),
        ],
        tool=TRACE_BINARY,
    )
    actual = read_trace(ctx.dir / "trace.txt", graph, 0, first + 1)
    golden = load_stimuli(ctx.input("golden", "stimuli.npz").parent)
    expected = {
        lay.name: golden[f"layer.{lay.name}"][: first + 1]
        for lay in graph.layers
        if f"layer.{lay.name}" in golden
    }
    found = first_divergence(graph, expected, actual)
    return found or (
        "every layer matches the golden model in the trace, so the mismatch is in "
        "the comparison files (golden/outputs.txt vs golden/stimuli.npz?)"
    )
