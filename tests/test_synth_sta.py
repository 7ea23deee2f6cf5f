"""PDK configuration, synth (pyosys) and sta (OpenSTA) on a small hand-written MAC.

Tool tests run the real tools on the sky130hd data: $ASICFLOW_PDK_ROOT if set, else the
shared copy beside the project (../shared/pdk/lambdapdk-sky130).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from designs import MAC_V, PDK_ROOT, TOP

from asicflow.config import FlowConfig
from asicflow.errors import ConfigError, ToolFailed, ToolMissing
from asicflow.liberty import liberty_cache, plain_liberty, sequential_cells
from asicflow.pdk import PDK_CONFIGS, PDK_ROOT_ENV, available_pdks, load_pdk, resolve_pdk
from asicflow.steps.base import execute
from asicflow.steps.sta import DONE, StaStep, parse_log
from asicflow.steps.synth import SynthStep

PROJECT = Path(__file__).resolve().parent.parent


def make_flow(name: str, **kw: Any) -> FlowConfig:
    kw.setdefault("pdk_root", PDK_ROOT)
    return FlowConfig(model=Path("unused.h5"), name=name, **kw)


def write_rtl(build: Path, flow: str, verilog: str, top: str = TOP) -> None:
    rtl = build / flow / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    (rtl / "top.v").write_text(verilog)
    (rtl / "rtl.json").write_text(json.dumps({"top": top}))


def isolate_from_pdk(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No $ASICFLOW_PDK_ROOT and a HOME without a SiliconCompiler cache."""
    monkeypatch.delenv(PDK_ROOT_ENV, raising=False)
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    build = tmp_path_factory.mktemp("build")
    write_rtl(build, "mac", MAC_V)
    return build, execute(SynthStep(), make_flow("mac"), build)


# --- PDK configuration ---------------------------------------------------------------------


def test_every_pdk_config_loads() -> None:
    assert "sky130hd" in available_pdks()
    for name in available_pdks():
        cfg = load_pdk(name)
        assert cfg.default_corner in cfg.corners
        assert cfg.source == PDK_CONFIGS / f"{name}.yaml"


def test_sky130hd_resolves_with_all_files() -> None:
    pdk = resolve_pdk(make_flow("f"))
    assert pdk.root_from == "flow 'pdk_root'"
    assert pdk.config.lambdapdk.pdk == "sky130" and pdk.config.lambdapdk.library == "sky130hd"
    assert pdk.liberty.name == "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"
    assert pdk.lef.is_file() and pdk.tech_lef.is_file() and pdk.gds.is_file()
    assert all(v.is_file() for v in pdk.verilog)


def test_root_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PDK_ROOT_ENV, str(PDK_ROOT))
    pdk = resolve_pdk(make_flow("f", pdk_root=None))
    assert pdk.root_from == f"${PDK_ROOT_ENV}" and pdk.root == PDK_ROOT.resolve()


def test_root_from_siliconcompiler_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_pdk(monkeypatch, tmp_path)
    cached = tmp_path / ".sc" / "cache" / "lambdapdk-v0.2.22-0123456789abcdef"
    cached.mkdir(parents=True)
    (cached / "lambdapdk").symlink_to(PDK_ROOT / "lambdapdk")
    pdk = resolve_pdk(make_flow("f", pdk_root=None))
    assert pdk.root == cached and pdk.root_from == "SiliconCompiler cache"


def test_no_pdk_root_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_pdk(monkeypatch, tmp_path)
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", pdk_root=None))
    msg = str(err.value)
    assert PDK_ROOT_ENV in msg and "pdk_root" in msg and "lambdapdk" in msg
    # The step fails the same way, before any tool runs.
    write_rtl(tmp_path / "build", "f", MAC_V)
    with pytest.raises(ConfigError):
        execute(SynthStep(), make_flow("f", pdk_root=None), tmp_path / "build")
    assert not (tmp_path / "build" / "f" / "synth.failed" / "commands.sh").exists()


def test_missing_files_are_all_named(tmp_path: Path) -> None:
    data = yaml.safe_load((PDK_CONFIGS / "sky130hd.yaml").read_text())
    data["corners"]["tt"]["liberty"] = "nowhere/tt.lib.gz"
    data["files"]["gds"] = "nowhere/cells.gds"
    bad = tmp_path / "bad_pdk.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", pdk=str(bad)))
    msg = str(err.value)
    assert str(PDK_ROOT / "nowhere" / "tt.lib.gz") in msg
    assert str(PDK_ROOT / "nowhere" / "cells.gds") in msg
    assert "corners.tt.liberty" in msg and str(bad) in msg


def test_pdk_yaml_schema_errors_all_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"name": "x", "corners": {"a": {"libery": "x.lib"}}, "default_corner": "b", "cells": {}}
        )
    )
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", pdk=str(bad)))
    msg = str(err.value)
    assert "did you mean 'corners.a.liberty'" in msg
    assert "cells.tie_hi" in msg and "cells.buffer" in msg


def test_unknown_corner_lists_corners() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", corner="typical"))
    assert "'typical'" in str(err.value) and "ff, ss, tt" in str(err.value)


def test_unknown_pdk_lists_known() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", pdk="sky999"))
    assert "sky130hd" in str(err.value)


def test_synth_ignores_the_clock() -> None:
    assert "clock_period_ns" not in SynthStep.reads
    assert "clock_period_ns" in StaStep.reads


def test_sta_log_judgement() -> None:
    ok = f"worst slack 1.5000\ntns 0.0000\nwns 0.0000\n{DONE}\n"
    assert parse_log(ok) == {"worst slack": 1.5, "tns": 0.0, "wns": 0.0}
    with pytest.raises(Exception, match="Error: sta.tcl, 3 bad"):
        parse_log("Error: sta.tcl, 3 bad\n" + ok)
    with pytest.raises(Exception, match="black box"):
        parse_log(
            "Warning: netlist.v, line 5 module x not found.  Creating black box for y.\n" + ok
        )
    with pytest.raises(Exception, match="stopped"):
        parse_log("worst slack 1.5\ntns 0\nwns 0\n")


def test_sta_without_opensta_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="apt-get install opensta"):
        execute(StaStep(), make_flow("f"), tmp_path / "build")


# --- real tool runs ------------------------------------------------------------------------


@pytest.mark.tools
def test_sequential_cells_from_liberty(tmp_path: Path) -> None:
    lib = plain_liberty(resolve_pdk(make_flow("f")).liberty, liberty_cache(tmp_path / "f"))
    seq = sequential_cells(lib)
    assert {"sky130_fd_sc_hd__dfxtp_1", "sky130_fd_sc_hd__dlxtp_1"} <= seq
    assert "sky130_fd_sc_hd__nand2_1" not in seq


@pytest.mark.tools
def test_synth_maps_mac_to_sky130(synthesized: tuple[Path, dict[str, Any]]) -> None:
    build, m = synthesized
    assert m["design__instance__area"] > 0
    assert m["design__instance__count"] > m["design__instance__count__flops"]
    assert m["design__instance__count__flops"] == 36
    assert m["synth__corner"] == "tt" and m["synth__pdk"] == "sky130hd"
    out = build / "mac" / "synth"
    netlist = (out / "netlist.v").read_text()
    assert f"module {TOP}(" in netlist and "sky130_fd_sc_hd__dfxtp_1" in netlist
    assert "signed" not in netlist and "lpflow" not in netlist and "assign" not in netlist
    config = json.loads((out / "config.json").read_text())
    assert config["versions"]["yosys"].startswith("Yosys ")
    assert "clock_period_ns" not in config["config"]


@pytest.mark.tools
def test_sta_meets_10ns_and_misses_half_ns(synthesized: tuple[Path, dict[str, Any]]) -> None:
    build, _ = synthesized
    relaxed = execute(StaStep(), make_flow("mac", clock_period_ns=10.0), build)
    out = build / "mac" / "sta"
    assert relaxed["timing__setup__ws"] > 0 and relaxed["timing__setup__tns"] == 0
    assert 0 < relaxed["timing__critical_path_ns"] < 10
    assert relaxed["timing__fmax_mhz"] == pytest.approx(
        1000 / relaxed["timing__critical_path_ns"], rel=1e-3
    )
    assert relaxed["timing__corner"] == "tt"
    assert (
        "create_clock -name clk -period 10 [get_ports clk]" in (out / "constraints.sdc").read_text()
    )
    assert "Startpoint:" in (out / "critical_path.rpt").read_text()
    assert json.loads((out / "config.json").read_text())["versions"]["opensta"]

    tight = execute(StaStep(), make_flow("mac", clock_period_ns=0.5), build)
    assert tight["timing__setup__ws"] < 0 and tight["timing__setup__tns"] < 0
    # Same netlist, same constraints but the period: the same achievable period.
    assert tight["timing__critical_path_ns"] == pytest.approx(
        relaxed["timing__critical_path_ns"], abs=1e-3
    )


@pytest.mark.tools
def test_sta_slower_corner_is_slower(synthesized: tuple[Path, dict[str, Any]]) -> None:
    build, _ = synthesized
    tt = execute(StaStep(), make_flow("mac"), build)
    ss = execute(StaStep(), make_flow("mac", corner="ss"), build)
    assert ss["timing__corner"] == "ss"
    assert ss["timing__critical_path_ns"] > tt["timing__critical_path_ns"]


@pytest.mark.tools
def test_feedthroughs_and_constants_become_cells(tmp_path: Path) -> None:
    write_rtl(
        tmp_path,
        "ft",
        "module ft(input [3:0] a, output [3:0] y, output [1:0] k);\n"
        "  assign y = a; assign k = 2'b10;\nendmodule\n",
        top="ft",
    )
    m = execute(SynthStep(), make_flow("ft"), tmp_path)
    netlist = (tmp_path / "ft" / "synth" / "netlist.v").read_text()
    assert "assign" not in netlist
    assert netlist.count("sky130_fd_sc_hd__buf_4 ") >= 4
    assert "sky130_fd_sc_hd__conb_1 " in netlist
    assert m["design__instance__count__flops"] == 0


@pytest.mark.tools
def test_yosys_error_fails_the_step(tmp_path: Path) -> None:
    write_rtl(tmp_path, "broken", "module mac_top(input clk); wire x = ; endmodule\n")
    with pytest.raises(ToolFailed, match="yosys failed") as err:
        execute(SynthStep(), make_flow("broken"), tmp_path)
    assert "ERROR" in str(err.value)
    assert (tmp_path / "broken" / "synth.failed" / "commands.sh").exists()
    assert not (tmp_path / "broken" / "synth").exists()


# A select register read by 96 multiplexer bits: one flip-flop output with 96 data loads.
FANOUT_V = """
module fan_top (
  input  wire clk,
  input  wire sel_in,
  input  wire [95:0] a,
  input  wire [95:0] b,
  output reg  [95:0] y
);
  reg sel;
  reg [95:0] aq, bq;
  always @(posedge clk) begin
    sel <= sel_in;
    aq <= a;
    bq <= b;
    y <= sel ? aq : bq;
  end
endmodule
"""


def _data_loads(netlist: str, clock: str = "clk") -> dict[str, int]:
    """Per net, how many cell pins other than outputs (X, Y, Q) and the clock read it."""
    counts: dict[str, int] = {}
    for pin, net in re.findall(r"\.(\w+)\(([^()]*)\)", netlist):
        if pin in ("X", "Y", "Q", "Q_N", "HI", "LO", "CLK") or net == clock:
            continue
        counts[net] = counts.get(net, 0) + 1
    return counts


@pytest.mark.tools
def test_synth_buffers_high_fanout_nets(tmp_path: Path) -> None:
    write_rtl(tmp_path, "fan", FANOUT_V, top="fan_top")
    m = execute(SynthStep(), make_flow("fan"), tmp_path)
    out = tmp_path / "fan" / "synth"
    netlist = (out / "netlist.v").read_text()
    loads = _data_loads(netlist)
    limit = load_pdk("sky130hd").cells.max_fanout
    assert max(loads.values()) <= limit, sorted(loads.items(), key=lambda kv: -kv[1])[:3]
    # 96 loads of the select at 16 per driver: 6 buffers, then one more driving those 6
    buffers = re.findall(r"sky130_fd_sc_hd__buf_4 (fanout_buf_\d+)", netlist)
    assert len(buffers) >= 6
    # the statistics are the buffered netlist's: the buffers are counted
    stat = json.loads((out / "stat.json").read_text()[(out / "stat.json").read_text().index("{") :])
    by_type = stat["modules"]["\\fan_top"]["num_cells_by_type"]
    assert by_type["sky130_fd_sc_hd__buf_4"] >= len(buffers)
    assert m["design__instance__count__flops"] == 1 + 96 * 3
    # the clock is left to clock tree synthesis
    assert not any("fanout" in n for n in re.findall(r"\.CLK\(([^()]*)\)", netlist))
