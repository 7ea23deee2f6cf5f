"""Small designs and PDK set-ups shared by the pnr and power tests.

The sky130hd data: $ASICFLOW_PDK_ROOT if set, else the shared copy beside the project
(../shared/pdk/lambdapdk-sky130).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from asicflow.config import FlowConfig
from asicflow.pdk import PDK_CONFIGS, PDK_ROOT_ENV

PDK_ROOT = Path(
    os.environ.get(PDK_ROOT_ENV)
    or Path(__file__).resolve().parents[2] / "shared" / "pdk" / "lambdapdk-sky130"
).resolve()  # asicflow reports resolved paths (shared/ may be reached through a symlink)
TEMPLATE = PDK_CONFIGS / "commercial65_template.yaml"

TOP = "mac_top"
# Registered signed 8x8 multiply-accumulate (36 flip-flops).
MAC_V = f"""
module {TOP} (
  input  wire clk,
  input  wire rst,
  input  wire signed [7:0] a,
  input  wire signed [7:0] b,
  output reg  signed [19:0] acc
);
  reg signed [7:0] a_r, b_r;
  always @(posedge clk) begin
    a_r <= a;
    b_r <= b;
    if (rst) acc <= 20'sd0;
    else acc <= acc + a_r * b_r;
  end
endmodule
"""

# Icarus testbench: reset, then a new random a/b every cycle; dumps activity.vcd.
MAC_TB_V = f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg signed [7:0] a = 0, b = 0;
  wire signed [19:0] acc;
  {TOP} dut(.clk(clk), .rst(rst), .a(a), .b(b), .acc(acc));
  always #5 clk = ~clk;
  integer i;
  initial begin
    $dumpfile("activity.vcd");
    $dumpvars(0, tb);
    @(posedge clk) rst <= 0;
    for (i = 0; i < 400; i = i + 1) begin
      @(posedge clk);
      a <= $random;
      b <= $random;
    end
    $finish;
  end
endmodule
"""


def make_flow(name: str, **kw: Any) -> FlowConfig:
    kw.setdefault("pdk_root", PDK_ROOT)
    return FlowConfig(model=Path("unused.h5"), name=name, **kw)


def write_rtl(build: Path, flow: str, verilog: str = MAC_V, top: str = TOP, **info: Any) -> None:
    rtl = build / flow / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    (rtl / "top.v").write_text(verilog)
    (rtl / "rtl.json").write_text(json.dumps({"top": top, **info}))


SKY = "sky130_fd_sc_hd__"
SKY_LIB = "lambdapdk/sky130/libs/sky130hd"
STANDIN_SCRIPTS = ("pdngen.tcl", "global_connect.tcl", "tapcell.tcl")


def fill_commercial_template(dest: Path) -> tuple[Path, Path]:
    """The commercial template filled with the sky130hd files and cell names as a stand-in.

    Returns (PDK YAML, PDK root). The root is a folder beside the YAML holding a link to the
    shared lambdapdk data plus three OpenROAD scripts (power grid, global connect, tap cells)
    that the shared copy lacks: those are labelled stand-ins, never executed by any test (no
    OpenROAD here); they only let SiliconCompiler's file checks pass."""
    data = yaml.safe_load(TEMPLATE.read_text())
    data["name"] = "filled65"
    data["description"] = "commercial65 template filled with sky130hd as a stand-in (tests)"
    for corner, tag in (("tt", "tt_025C_1v80"), ("ss", "ss_n40C_1v40"), ("ff", "ff_100C_1v95")):
        data["corners"][corner]["liberty"] = f"{SKY_LIB}/nldm/{SKY}{tag}.lib.gz"
    data["files"] = {
        "lef": f"{SKY_LIB}/lef/sky130_fd_sc_hd_merged.lef",
        "tech_lef": "lambdapdk/sky130/base/apr/sky130_fd_sc.tlef",
        "gds": f"{SKY_LIB}/gds/sky130_fd_sc_hd.gds",
        "layer_map": "lambdapdk/sky130/base/setup/klayout/skywater130.lyt",
        "verilog": [f"{SKY_LIB}/verilog/primitives.v", f"{SKY_LIB}/verilog/sky130_fd_sc_hd.v"],
    }
    data["cells"] = {
        "tie_hi": {"cell": f"{SKY}conb_1", "pin": "HI"},
        "tie_lo": {"cell": f"{SKY}conb_1", "pin": "LO"},
        "buffer": {"cell": f"{SKY}buf_4", "input": "A", "output": "X"},
        "dont_use": [f"{SKY}probe_p_8", f"{SKY}probec_p_8", f"{SKY}lpflow_*"],
        "tap": f"{SKY}tapvpwrvgnd_1",
        "endcap": f"{SKY}decap_4",
        "fill": [f"{SKY}fill_{n}" for n in (8, 4, 2, 1)],
        "clock_buffers": [f"{SKY}clkbuf_{n}" for n in (1, 2, 4, 8, 16)],
        "hold": [f"{SKY}dlygate4sd3_1"],
        "antenna": f"{SKY}diode_2",
    }
    data["physical"].update(
        {
            "node_nm": 130,
            "stackup": "5M1LI",
            "site": ["unithd"],
            "routing_layer_min": "met1",
            "routing_layer_max": "met5",
            "pin_layers_horizontal": ["met3"],
            "pin_layers_vertical": ["met2"],
            "rc_layer_signal": "met3",
            "rc_layer_clock": "met5",
            "abc_load_ff": 11,
            "scripts": {
                "power_grid": "standin/pdngen.tcl",
                "global_connect": "standin/global_connect.tcl",
                "tapcell": "standin/tapcell.tcl",
                "tracks": "",
            },
        }
    )
    root = dest / "root"
    (root / "standin").mkdir(parents=True, exist_ok=True)
    link = root / "lambdapdk"
    if not link.exists():
        link.symlink_to(PDK_ROOT / "lambdapdk")
    for name in STANDIN_SCRIPTS:
        (root / "standin" / name).write_text(
            "# STAND-IN written by asicflow's tests, never executed: no OpenROAD here.\n"
        )
    out = dest / "filled65.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out, root


FAKE_TOOL = """#!{python}
# FAKE {name} written by asicflow's tests: answers the version switch with a version
# SiliconCompiler accepts, records every call in $FAKE_TOOL_LOG, and does no work: any other
# call fails, so nothing downstream can mistake it for a result.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_TOOL_LOG"], "a") as fh:
    fh.write(json.dumps({{"tool": "{name}", "argv": args, "cwd": os.getcwd()}}) + "\\n")
if args == {switch!r}:
    print({version!r})
    sys.exit(0)
print("fake {name}: records its arguments and does no work (not a real run)")
sys.exit(1)
"""

# SiliconCompiler tool name -> (executable, version switch, version it accepts)
FAKES = {
    "openroad": ("openroad", ["-version"], "24Q3-2011-gfake"),
    "yosys": ("yosys", ["--version"], "Yosys 0.48 (fake)"),
    "opensta": ("sta", ["-version"], "2.6.2"),
    "klayout": ("klayout", ["-zz", "-v"], "KLayout 0.28.17"),
}


def write_fake_tools(folder: Path, python: str) -> dict[str, Path]:
    """Fake executables for SiliconCompiler's pnr tools; {tool name: folder}."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (exe, switch, version) in FAKES.items():
        p = folder / exe
        p.write_text(FAKE_TOOL.format(python=python, name=name, switch=switch, version=version))
        p.chmod(0o755)
    return {name: folder for name in FAKES}
