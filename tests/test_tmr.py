"""TMR insertion (pyosys), its formal equivalence proof, synthesis and fault injection.

Real runs: Yosys (pyosys, in children) proves the TMR design equivalent to the original and
fails on a deliberately broken voter; the sky130hd netlist keeps three flip-flops per
original one, register by register; Icarus + cocotb inject single-event upsets while
streaming golden stimuli, with and without TMR.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from graphs import random_inputs, random_mlp

from asicflow import tmr
from asicflow.config import FlowConfig, OptionsConfig, RtlConfig
from asicflow.errors import CheckFailed
from asicflow.runner import run_tool
from asicflow.steps.base import execute
from asicflow.steps.rtl import RtlStep
from asicflow.steps.sta import StaStep
from asicflow.steps.synth import SynthStep
from asicflow.steps.tmr import TmrStep
from asicflow.stimuli import write_stimuli

pytestmark = pytest.mark.tools

PROJECT = Path(__file__).resolve().parent.parent
PDK_ROOT = Path(
    os.environ.get("ASICFLOW_PDK_ROOT") or PROJECT.parent / "shared" / "pdk" / "lambdapdk-sky130"
).resolve()

# Hand-written: plain, enabled, synchronously reset, asynchronously reset and sliced registers.
SMALL_V = """
module hand (
  input  wire clk, input wire rst, input wire arst, input wire en,
  input  wire [3:0] d, output wire [3:0] q, output reg [2:0] cnt, output reg [1:0] a
);
  reg [3:0] r, s;
  always @(posedge clk) begin
    if (en) r <= d;
    s <= r ^ s;
    if (rst) cnt <= 3'd0; else if (en) cnt <= cnt + 3'd1;
  end
  always @(posedge clk or posedge arst)
    if (arst) a <= 2'b01; else a <= {a[0], a[1] ^ d[0]};
  assign q = s;
endmodule
"""
SMALL_REGS = {"r": 4, "s": 4, "cnt": 3, "a": 2}


def runner(work: Path) -> Any:
    return partial(run_tool, log=work / "log.txt", cwd=work)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("hand")
    (work / "small.v").write_text(SMALL_V)
    return work


def test_small_design_triplicated_and_proven(small: Path) -> None:
    out = small / "tmr"
    out.mkdir()
    report = tmr.insert(runner(out), small / "small.v", "hand", out)
    widths = {r["name"]: r["width"] for r in report["registers"]}
    assert widths == SMALL_REGS
    text = (out / "top.v").read_text()
    assert re.search(r"module hand\([^)]*tmr_error\)", text)
    for r in report["registers"]:
        assert len(set(r["replicas"])) == 3
    assert tmr.prove(runner(out), small / "small.v", out / "top.v", "hand", out)["equiv_proven"]


def test_broken_voter_fails_the_proof(small: Path) -> None:
    """The check has teeth: a voter with one inverted input is not equivalent."""
    out = small / "broken"
    out.mkdir()
    tmr.insert(runner(out), small / "small.v", "hand", out, voter="broken")
    with pytest.raises(CheckFailed, match="NOT proven equivalent"):
        tmr.prove(runner(out), small / "small.v", out / "top.v", "hand", out)


def test_exclusion_by_name(small: Path) -> None:
    out = small / "excl"
    out.mkdir()
    report = tmr.insert(runner(out), small / "small.v", "hand", out, exclude=["c*", "s"])
    assert sorted(report["excluded"]) == ["cnt", "s"]
    assert sorted(r["name"] for r in report["registers"]) == ["a", "r"]
    assert tmr.prove(runner(out), small / "small.v", out / "top.v", "hand", out)


# --- a random MLP through the flow's steps ---------------------------------------------------

SIZES = [16, 8, 4]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FlowConfig, dict[str, Any]]:
    """rtl + tmr steps of a [16, 8, 4] random MLP (what convert + golden would leave)."""
    build = tmp_path_factory.mktemp("build")
    graph = random_mlp(SIZES, seed=3)
    name = "tmrnet"
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, 64), build / name / "golden")
    flow = FlowConfig(model=Path("unused.h5"), name=name, pdk_root=PDK_ROOT)
    # One stage per layer: the flip-flop identity below counts every RTL register. (With
    # rtl.pipeline auto, registers inside a sum hold constant low bits of shifted terms, which
    # synthesis of the plain design removes but the TMR voters keep: 12 of 434 here.)
    flow = dataclasses.replace(
        flow, options=OptionsConfig(tmr=True), rtl=RtlConfig(pipeline="layer")
    )
    execute(RtlStep(), flow, build=build)
    metrics = execute(TmrStep(), flow, build=build)
    return build, flow, metrics


def test_tmr_step_on_network(net: tuple[Path, FlowConfig, dict[str, Any]]) -> None:
    build, _, metrics = net
    info = json.loads((build / "tmrnet" / "tmr" / "rtl.json").read_text())
    names = {r["name"] for r in info["tmr"]["registers"]}
    assert {"input_q", "valid_q", "dense1_q"} <= names
    assert info["ports"]["tmr_error"] == 1
    assert metrics["tmr__registers"] == len(names)
    assert metrics["tmr__equiv_proven"] is True  # the step ran the proof and it held


def _flops_by_net(netlist: str, dff_cells: set[str]) -> Counter[str]:
    """sky130 flip-flop instances per name of the net on their Q pin (bit index dropped)."""
    count: Counter[str] = Counter()
    for cell, q in re.findall(r"(sky130_fd_sc_\w+)\s+\S+\s*\((?:[^;]*?)\.Q\(([^)]*)\)", netlist):
        if cell in dff_cells:
            count[q.strip().lstrip("\\").split("[")[0].strip()] += 1
    return count


def test_synthesized_netlist_keeps_three_copies(
    net: tuple[Path, FlowConfig, dict[str, Any]],
) -> None:
    build, flow, _ = net
    # The plain RTL (a flow folder holding a copy of rtl/, TMR off) ...
    pflow = dataclasses.replace(flow, name="tmrnet_plain", options=OptionsConfig(tmr=False))
    (build / "tmrnet_plain" / "rtl").mkdir(parents=True)
    for f in ("top.v", "rtl.json"):
        (build / "tmrnet_plain" / "rtl" / f).write_bytes(
            (build / "tmrnet" / "rtl" / f).read_bytes()
        )
    plain = execute(SynthStep(), pflow, build=build)
    # ... and the TMR RTL, which synth takes from tmr/ because the flow has options.tmr.
    hard = execute(SynthStep(), flow, build=build)
    assert hard["design__instance__count__flops"] == 3 * plain["design__instance__count__flops"]
    stat = json.loads((build / "tmrnet" / "synth" / "stat.json").read_text())
    dffs = {t for t in next(iter(stat["modules"].values()))["num_cells_by_type"] if "df" in t}
    per_net = _flops_by_net((build / "tmrnet" / "synth" / "netlist.v").read_text(), dffs)
    # Register by register: every replica keeps one flip-flop per bit.
    regs = json.loads((build / "tmrnet" / "tmr" / "tmr.json").read_text())["registers"]
    for r in regs:
        assert [per_net[rep] for rep in r["replicas"]] == [r["width"]] * 3, r["name"]
    assert sum(per_net.values()) == 3 * sum(r["width"] for r in regs)
    assert sum(per_net.values()) == hard["design__instance__count__flops"]
    # Area and timing overhead figures (sta at the flow's clock).
    sta_plain = execute(StaStep(), pflow, build=build)
    sta_tmr = execute(StaStep(), flow, build=build)
    figures = {
        "area_um2": [plain["design__instance__area"], hard["design__instance__area"]],
        "flops": [plain["design__instance__count__flops"], hard["design__instance__count__flops"]],
        "setup_ws_ns": [sta_plain["timing__setup__ws"], sta_tmr["timing__setup__ws"]],
    }
    (build / "tmr_overhead.json").write_text(json.dumps(figures, indent=1))
    assert hard["design__instance__area"] > plain["design__instance__area"]


def test_fault_injection_campaign(net: tuple[Path, FlowConfig, dict[str, Any]]) -> None:
    build, _, _ = net
    fdir = build / "tmrnet"
    info = json.loads((fdir / "rtl" / "rtl.json").read_text())
    regs = json.loads((fdir / "tmr" / "tmr.json").read_text())["registers"]
    stimuli = fdir / "golden" / "stimuli.npz"
    work = build / "faults"
    with_tmr = tmr.campaign(
        runner(work), fdir / "tmr" / "top.v", info, regs, stimuli, work / "tmr", "tmr", 1000
    )
    without = tmr.campaign(
        runner(work), fdir / "rtl" / "top.v", info, regs, stimuli, work / "plain", "plain", 1000
    )
    (build / "faults.json").write_text(json.dumps([with_tmr, without], indent=1))
    assert with_tmr["upsets"] == 1000 and without["upsets"] == 1000
    assert with_tmr["output_errors"] == 0
    assert with_tmr["upsets_flagged"] == 1000
    assert with_tmr["flag_cycles"] == 1000  # raised only while a replica is wrong: scrubbed
    assert without["output_errors"] > 0
