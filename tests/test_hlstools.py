"""Catapult and Bambu backends of the rtl step, driven through fake executables.

Neither tool can be installed here, so the tests write small fake ``catapult`` and ``bambu``
executables into a tmp bin folder on PATH (edalize's ``tests/mock_commands`` idea). Each
fake records its argv (catapult: also the Tcl file it was given) into ``$FAKE_RECORD`` and
writes the files the real tool writes: the RTL, i.e. the native generator's Verilog (module
``<top>_core``) inside a wrapper module ``<top>`` that implements the tool's port protocol
(Catapult's valid/ready channels, Bambu's start/done), so the cocotb protocol adapters run
for real; and a report in the tool's format (Catapult ``rtl.rpt``; Bambu's summary lines on
stdout) that the driver parses.

The project each driver writes (Catapult Tcl, Bambu argv) is compared with a reviewed golden
file in ``tests/golden/``; ``ASICFLOW_REGEN_GOLDEN=1`` rewrites them instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from designs import PDK_ROOT
from graphs import random_inputs, random_mlp

from asicflow.config import FlowConfig, HlsConfig, SimConfig
from asicflow.errors import ToolMissing
from asicflow.hlstools import bambu, catapult
from asicflow.ir import Graph
from asicflow.pdk import load_pdk
from asicflow.steps.base import execute
from asicflow.steps.cosim import CosimStep
from asicflow.steps.rtl import RtlStep
from asicflow.stimuli import write_stimuli

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("ASICFLOW_REGEN_GOLDEN") == "1"
NAME = "digits_mlp"
N_VECTORS = 200

_FAKE_COMMON = f"""#!{sys.executable}
import json, os, re, sys
from pathlib import Path
from asicflow.ir import Graph
from asicflow.rtl import generate

record = Path(os.environ["FAKE_RECORD"])
record.mkdir(parents=True, exist_ok=True)
TOOL = Path(sys.argv[0]).name
(record / f"{{TOOL}}.argv.json").write_text(json.dumps(sys.argv[1:]))


def core(top):
    # The fake's "synthesis": asicflow's own RTL of the IR the step was given.
    graph = Graph.load(Path("..") / "convert")
    design = generate(graph, top + "_core")
    n_in, n_out = graph.input.size, graph.output.size
    w_in = n_in * graph.input.out_type.width
    w_out = n_out * graph.output.out_type.width
    return design, w_in, w_out
"""

FAKE_CATAPULT = (
    _FAKE_COMMON
    + """
assert sys.argv[1:3] == ["-shell", "-file"], sys.argv
tcl = Path(sys.argv[3]).read_text()
(record / "catapult.tcl").write_text(tcl)
project = re.search(r"^project new -name (\\S+)$", tcl, re.M).group(1)
top = re.search(r"^solution design set (\\S+) -top$", tcl, re.M).group(1)
assert re.search(r"^go extract$", tcl, re.M), "no go extract"
design, w_in, w_out = core(top)
out = Path(project) / f"{top}.v1"
out.mkdir(parents=True)
wrapper = f'''
module {top} (
  input  wire clk,
  input  wire rst,
  input  wire [{w_in - 1}:0] x_rsc_dat,
  input  wire x_rsc_vld,
  output wire x_rsc_rdy,
  output wire [{w_out - 1}:0] y_rsc_dat,
  output wire y_rsc_vld,
  input  wire y_rsc_rdy
);
  // ccs_in_wait / ccs_out_wait channels around an II-1 pipeline: ready once out of reset.
  reg ready;
  always @(posedge clk) ready <= !rst;
  assign x_rsc_rdy = ready;
  wire unused_y_rsc_rdy = y_rsc_rdy;
  {top}_core core (
    .clk(clk), .rst(rst), .in_valid(x_rsc_vld & ready), .in_data(x_rsc_dat),
    .out_valid(y_rsc_vld), .out_data(y_rsc_dat)
  );
endmodule
'''
(out / "concat_rtl.v").write_text(design.verilog + wrapper)
lat = design.info["latency_cycles"]
(out / "rtl.rpt").write_text(f'''# Fake Catapult report
  Processes/Blocks in Design
    Process       Real Operation(s) count Latency Throughput Reset Length II Comments
    ------------- ----------------------- ------- ---------- ------------ -- --------
    /{top}/core                       321 {lat:>7} {1:>10}            1  1
    Design Total:                     321 {lat:>7} {1:>10}            1  1

  Area Scores
                      Post-Scheduling   Post-DP & FSM Post-Assignment
    ----------------- --------------- --------------- ---------------
    Total Area Score:         12345.6         12000.0         11800.5
''')
print("# Info: Completed transformation 'extract' on solution", top)
"""
)

FAKE_BAMBU = (
    _FAKE_COMMON
    + """
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
source = Path(sys.argv[1])
assert source.is_file(), source
top = opts["top-rtldesign-name"]
design, w_in, w_out = core(top)
wrapper = f'''
module {top} (
  input  wire clock,
  input  wire reset,
  input  wire start_port,
  output wire done_port,
  input  wire [{w_in - 1}:0] x,
  output wire [{w_out - 1}:0] y
);
  {top}_core core (
    .clk(clock), .rst(reset), .in_valid(start_port), .in_data(x),
    .out_valid(done_port), .out_data(y)
  );
endmodule
'''
Path(opts["output-file"]).write_text(design.verilog + wrapper)
lat = design.info["latency_cycles"]
print(f"  Minimum number of cycles: {lat}")
print(f"  Maximum number of cycles: {lat}")
print(f"  Total number of flip-flops in function {top}: {design.info['flops']}")
print("  Estimated max frequency (MHz): 123.45")
"""
)


def graph() -> Graph:
    """digits-like: 64 -> 16 -> 10 (kept small enough for a fast Verilator build)."""
    return random_mlp([64, 16, 10], seed=0, w_bits=8)


def make_flow(backend: str, **hls: object) -> FlowConfig:
    return FlowConfig(
        model=Path("unused.h5"),
        name=NAME,
        pdk_root=PDK_ROOT,
        hls=HlsConfig(backend=backend, **hls),  # type: ignore[arg-type]
    )


def prepare(build: Path, flow: FlowConfig) -> Graph:
    g = graph()
    g.save(build / flow.name / "convert")
    write_stimuli(g, random_inputs(g, N_VECTORS), build / flow.name / "golden")
    return g


def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fakes on PATH; returns the folder their records go to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("catapult", FAKE_CATAPULT), ("bambu", FAKE_BAMBU)):
        exe = bin_dir / name
        exe.write_text(text)
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record"
    monkeypatch.setenv("FAKE_RECORD", str(record))
    return record


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
    assert path.is_file(), f"{path} is missing (ASICFLOW_REGEN_GOLDEN=1 writes it)"
    assert text == path.read_text(), f"{path} differs (ASICFLOW_REGEN_GOLDEN=1 rewrites it)"


def golden_tcl() -> str:
    """The Tcl for the golden flow, PDK root shown as a placeholder (machine independent)."""
    flow = make_flow("catapult", catapult_flows=["scverify", "ccov", "cdesignchecker"])
    liberty = load_pdk(flow.pdk).corners[flow.corner].liberty
    return catapult.render_tcl(flow, graph(), Path("<PDK_ROOT>"), liberty)


def test_catapult_tcl_matches_golden() -> None:
    check_golden("catapult_digits_mlp.tcl", golden_tcl())


def test_catapult_tcl_without_optional_flows() -> None:
    flow = make_flow("catapult")
    tcl = catapult.render_tcl(flow, graph(), Path("/pdk"), "lib.lib")
    assert "SCVerify" not in tcl and "CCOV" not in tcl and "CDesignChecker" not in tcl
    assert "go extract" in tcl and "set PDK_ROOT {/pdk}" in tcl


def test_bambu_argv_matches_golden() -> None:
    argv = ["bambu", *bambu.arguments(make_flow("bambu"))]
    check_golden("bambu_digits_mlp.argv", "\n".join(argv) + "\n")


def test_tool_keys_only_decide_tool_flows() -> None:
    from asicflow.steps.base import config_values

    native = config_values(RtlStep(), make_flow("native", bambu_compiler="X"))
    assert native == {
        "name": NAME,
        "rtl.generator": "native",
        "rtl.weights": "const",
        "rtl.reuse": 1,
        "rtl.reuse_layers": {},
        # rtl.pipeline 'auto': the registers are placed for the clock on the corner (a TMR
        # design's stages also hold its voters)
        "rtl.pipeline": "auto",
        "pdk": "sky130hd",
        "corner": "tt",
        "clock_period_ns": 10.0,
        "options.tmr": False,
    }
    cat = config_values(RtlStep(), make_flow("catapult", catapult_flows=["ccov"]))
    assert cat["hls.catapult_flows"] == ["ccov"] and cat["corner"] == "tt"
    assert "hls.bambu_compiler" in config_values(RtlStep(), make_flow("bambu"))


def test_catapult_report_parser() -> None:
    rpt = """
    Design Total:                     321       5          1            1  1
    Total Area Score:         12345.6         12000.0         11800.5
    """
    assert catapult.parse_report(rpt) == {
        "operations": 321,
        "latency": 5,
        "throughput": 1,
        "area": 11800.5,
    }


@pytest.mark.parametrize(
    "backend, key",
    [("catapult", "hls.catapult_path"), ("bambu", "hls.bambu_path")],
)
def test_missing_tool_stops_rtl_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, key: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    flow = make_flow(backend)
    build = tmp_path / "build"
    prepare(build, flow)
    with pytest.raises(ToolMissing) as exc:
        execute(RtlStep(), flow, build=build)
    msg = str(exc.value)
    assert f"'{backend}' was not found" in msg and key in msg and "PATH" in msg
    assert not (build / NAME / "rtl").exists()
    failed = build / NAME / "rtl.failed"
    # The project was written before the tool was looked for: it can be run by hand.
    project = "catapult.tcl" if backend == "catapult" else "bambu.argv"
    assert (failed / project).is_file()
    assert (failed / "src" / "firmware" / f"{NAME}.cpp").is_file()


@pytest.mark.tools
@pytest.mark.parametrize("backend", ["catapult", "bambu"])
def test_tool_rtl_through_cosim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    record = fake_bin(tmp_path, monkeypatch)
    flow = make_flow(backend, catapult_flows=["scverify"])
    flow = dataclasses.replace(flow, sim=SimConfig(simulator="verilator"))
    build = tmp_path / "build"
    prepare(build, flow)

    metrics = execute(RtlStep(), flow, build=build)
    rtl = build / NAME / "rtl"
    info = json.loads((rtl / "rtl.json").read_text())
    argv = json.loads((record / f"{backend}.argv.json").read_text())
    native_latency: object = None  # from the fake's report, checked against cosim below
    if backend == "catapult":
        assert argv == ["-shell", "-file", "catapult.tcl"]
        assert (record / "catapult.tcl").read_text() == (rtl / "catapult.tcl").read_text()
        assert "flow package require /SCVerify" in (rtl / "catapult.tcl").read_text()
        assert info["protocol"] == "catapult_channel"
        assert info["port_map"]["in_ready"] == "x_rsc_rdy"
        assert metrics["catapult__area_score"] == 11800.5
        assert metrics["catapult__throughput_cycles"] == 1
        native_latency = metrics["catapult__latency_cycles"]
    else:
        assert argv == bambu.arguments(flow)
        assert json.loads((rtl / "bambu.argv").read_text()) == ["bambu", *argv]
        assert info["protocol"] == "bambu_startdone"
        assert info["port_map"]["in_valid"] == "start_port"
        assert metrics["bambu__fmax_mhz"] == 123.45
        native_latency = metrics["bambu__latency_cycles"]
    assert info["top"] == NAME and info["latency_cycles"] == native_latency
    assert metrics["rtl__protocol"] == info["protocol"]
    assert "commands.sh" in os.listdir(rtl)
    assert backend in (rtl / "commands.sh").read_text()

    cosim = execute(CosimStep(), flow, build=build)
    assert cosim["cosim__vectors"] == N_VECTORS
    assert cosim["cosim__mismatches"] == 0
    assert cosim["cosim__latency_cycles"] == native_latency
    assert cosim["cosim__ii"] == 1
