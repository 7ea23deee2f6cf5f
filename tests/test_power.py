"""Power and energy per inference with OpenSTA on a synthesized MAC, and the activity readers.

Real runs: Yosys (pyosys) synthesis, Debian's OpenSTA (2019) report_power, and an Icarus
simulation that dumps the VCD whose input activity the power step measures.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from designs import MAC_TB_V, MAC_V, make_flow, write_rtl

from asicflow.activity import read_activity
from asicflow.errors import AsicflowError, ToolMissing
from asicflow.steps.base import execute
from asicflow.steps.power import (
    DEFAULT_ACTIVITY,
    PowerStep,
    activity_file,
    named_nets,
    parse_power,
    ports,
    power_liberty,
)
from asicflow.steps.synth import SynthStep

LIB_HEAD = """library ("x") {
    time_unit : "1ns";
    default_operating_conditions : "tt";
    operating_conditions ("tt") {
        voltage : 1.8;
    }
    cell ("a") { }
}
"""


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("build")
    write_rtl(build, "mac")
    execute(SynthStep(), make_flow("mac"), build)
    return build


@pytest.fixture(scope="module")
def mac_vcd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real VCD: Icarus simulates the MAC with random operands every cycle."""
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    assert iverilog and vvp, "Icarus Verilog is part of this project's toolchain"
    d = tmp_path_factory.mktemp("sim")
    (d / "mac.v").write_text(MAC_V)
    (d / "tb.v").write_text(MAC_TB_V)
    subprocess.run(
        [iverilog, "-o", "sim", "tb.v", "mac.v"], cwd=d, check=True, stdin=subprocess.DEVNULL
    )
    subprocess.run(
        [vvp, "sim"], cwd=d, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    return d / "activity.vcd"


def run_power(build: Path, flow: str = "mac", **kw: Any) -> dict[str, Any]:
    return execute(PowerStep(), make_flow(flow, **kw), build)


# --- units -----------------------------------------------------------------------------------


def test_power_liberty_moves_the_forward_reference(tmp_path: Path) -> None:
    lib = tmp_path / "x.lib"
    lib.write_text(LIB_HEAD)
    fixed = power_liberty(lib, tmp_path / "cache")
    assert fixed != lib
    text = fixed.read_text()
    assert sorted(text.splitlines()) == sorted(LIB_HEAD.splitlines())
    assert text.index("default_operating_conditions") > text.index('operating_conditions ("tt")')
    assert text.index("default_operating_conditions") < text.index('cell ("a")')
    assert power_liberty(fixed, tmp_path / "cache") == fixed  # already in order: itself


def test_netlist_ports_and_report_parsing() -> None:
    netlist = (
        "module m(clk, a, y);\n  input clk;\n  input [7:0] a;\n  output [3:0] y;\n"
        "  wire _0012_;\n  wire \\acc_q[3] ;\n  wire [1:0] \\$auto$x ;\nendmodule\n"
    )
    ins, outs = ports(netlist)
    assert ins == {"clk": 0, "a": 8} and outs == ["y"]
    assert named_nets(netlist) == {"clk", "a", "y", "acc_q"}
    report = (
        "Total                1.0e-04 2.0e-05 3.0e-09 1.2e-04 100.0%\n"
        "asicflow: power script done\n"
    )
    assert parse_power(report) == {
        "internal": 1e-4,
        "switching": 2e-5,
        "leakage": 3e-9,
        "total": 1.2e-4,
    }
    with pytest.raises(AsicflowError, match="Error: x"):
        parse_power("Error: x\n" + report)
    with pytest.raises(AsicflowError, match="stopped"):
        parse_power(report.splitlines()[0])


def test_vcd_activity_by_hand(tmp_path: Path) -> None:
    """Clock every 10 ns (4 rising edges); a[1:0] counts 0,1,2,3; x keeps the old value."""
    vcd = tmp_path / "t.vcd"
    vcd.write_text("""$timescale 1ns $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 2 " a [1:0] $end
$var wire 1 # en $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
b00 "
0#
$end
#5
1!
#10
0!
b01 "
x#
#15
1!
#20
0!
b10 "
1#
#25
1!
#30
0!
b11 "
#35
1!
#40
0!
""")
    act = read_activity(vcd, ["a"], "clk", nets=["en", "not_in_dump"])
    assert act.scope == "top" and act.cycles == 4
    got = {b.name: (b.activity, round(b.duty, 3)) for b in act.bits}
    assert got == {"a[0]": (3 / 4, 0.5), "a[1]": (1 / 4, 0.5), "en": (1 / 4, 0.5)}
    assert act.mean() == pytest.approx(5 / 12) and act.mean(["a"]) == 0.5
    assert act.count(["a"]) == 2


def test_saif_activity_by_hand(tmp_path: Path) -> None:
    saif = tmp_path / "t.saif"
    saif.write_text("""(SAIFILE (SAIFVERSION "2.0") (DIRECTION "backward") (DURATION 1000)
 (TIMESCALE 1 ns)
 (INSTANCE tb
  (INSTANCE dut
   (NET (clk (T0 500) (T1 500) (TX 0) (TC 200))
        (a\\[0\\] (T0 250) (T1 750) (TX 0) (TC 50))
        (a\\[1\\] (T0 900) (T1 100) (TX 0) (TC 10))
        (q (T0 500) (T1 500) (TX 0) (TC 25))))))
""")
    act = read_activity(saif, ["a"], "clk", nets=["q"])
    assert act.scope == "tb/dut" and act.cycles == 100
    assert [(b.name, b.activity, b.duty) for b in act.bits] == [
        ("a[0]", 0.5, 0.75),
        ("a[1]", 0.1, 0.1),
        ("q", 0.25, 0.5),
    ]


def test_activity_errors_name_the_file(tmp_path: Path) -> None:
    vcd = tmp_path / "t.vcd"
    vcd.write_text(
        "$scope module top $end\n$var wire 1 ! clk $end\n$upscope $end\n"
        "$enddefinitions $end\n#0\n0!\n"
    )
    with pytest.raises(AsicflowError, match=r"t\.vcd: no scope holds the signals a, clk"):
        read_activity(vcd, ["a"], "clk")


def test_power_without_opensta_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_rtl(tmp_path, "f")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="apt-get install opensta"):
        run_power(tmp_path, "f")


# --- real runs -------------------------------------------------------------------------------


@pytest.mark.tools
def test_default_activity_is_labelled(synthesized: Path) -> None:
    assert activity_file(synthesized / "mac") is None
    m = run_power(synthesized)
    assert m["power__activity_source"] == "default"
    assert "assumed" in m["power__activity_detail"]
    assert m["power__activity"] == DEFAULT_ACTIVITY
    parts = m["power__internal_w"] + m["power__switching_w"] + m["power__leakage_w"]
    assert m["power__total_w"] == pytest.approx(parts, rel=1e-5)
    assert m["power__internal_w"] > 0 and m["power__switching_w"] > 0  # the Liberty fix
    assert 0 < m["power__leakage_w"] < m["power__total_w"] / 1000
    # energy per inference = total power x period x II (W x ns = nJ)
    assert m["power__energy_per_inference_nj"] == pytest.approx(m["power__total_w"] * 10.0)
    out = synthesized / "mac" / "power"
    assert "set_power_activity -global -activity 0.1 " in (out / "activity.tcl").read_text()
    assert re.search(r"^Total\s", (out / "power.rpt").read_text(), re.MULTILINE)
    print(
        f"MAC, default activity: {m['power__total_w'] * 1e3:.3f} mW, "
        f"{m['power__energy_per_inference_nj'] * 1e3:.2f} pJ per inference"
    )


@pytest.mark.tools
def test_activity_from_the_simulation_dump(
    synthesized: Path, mac_vcd: Path, tmp_path: Path
) -> None:
    build = tmp_path / "b"
    shutil.copytree(synthesized / "mac", build / "mac")
    default = run_power(build)
    (build / "mac" / "rtl_cosim").mkdir()
    shutil.copy(mac_vcd, build / "mac" / "rtl_cosim" / "activity.vcd")
    m = run_power(build)
    assert m["power__activity_source"] == "vcd"
    assert "measured" in m["power__activity_detail"] and "401 cycles" in m["power__activity_detail"]
    # random operands: each data bit toggles in about half of the cycles; rst once
    assert 0.3 < m["power__activity"] < 0.55
    assert m["power__total_w"] > 2 * default["power__total_w"]
    tcl = (build / "mac" / "power" / "activity.tcl").read_text()
    assert "input bits: 17," in tcl and "register/output bits: 36," in tcl
    assert f"set_power_activity -global -activity {m['power__activity']:.6g} " in tcl
    assert m["power__leakage_w"] == default["power__leakage_w"]
    print(
        f"MAC, activity from the VCD: {m['power__total_w'] * 1e3:.3f} mW, "
        f"{m['power__energy_per_inference_nj'] * 1e3:.2f} pJ per inference"
    )


@pytest.mark.tools
def test_energy_scales_with_ii_and_period(synthesized: Path, tmp_path: Path) -> None:
    build = tmp_path / "b"
    shutil.copytree(synthesized / "mac", build / "mac")
    (build / "mac" / "rtl" / "rtl.json").write_text(json.dumps({"top": "mac_top", "ii": 4}))
    m = run_power(build, clock_period_ns=20.0)
    assert m["power__ii_cycles"] == 4
    assert m["power__energy_per_inference_nj"] == pytest.approx(m["power__total_w"] * 20 * 4)
