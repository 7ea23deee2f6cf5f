"""Several generated networks behind one top module, for one simulator build.

A Verilator build costs ~15 s whatever the design size, so tests that check many small
networks wrap them in one top (:func:`wrap`): ``clk``/``rst`` shared, every other port of
network ``n`` renamed ``<n>_<port>``. Each network's ``rtl.json`` gets a ``port_map`` with
those names and probe signals inside its instance (``u_<n>.<signal>``), so the cocotb
testbench checks each one as it checks a lone network (``ASICFLOW_SUITE``).
"""

from __future__ import annotations

import copy
from typing import Any

from asicflow.rtl.generator import RtlDesign
from asicflow.rtl.verilog import identifier

SHARED = ("clk", "rst")
ROLES = ("in_valid", "in_data", "in_ready", "out_valid", "out_data", "out_ready", "params_in")


def wrap(designs: list[RtlDesign], top: str) -> tuple[str, list[dict[str, Any]]]:
    """The Verilog of every design plus a top ``top`` instantiating each; per-design infos."""
    top = identifier(top)
    ports = ["input wire clk", "input wire rst"]
    insts: list[str] = []
    infos: list[dict[str, Any]] = []
    for d in designs:
        n = d.top
        conns = [".clk(clk)", ".rst(rst)"]
        port_map: dict[str, Any] = {"clk": "clk", "rst": "rst", "rst_active": 1}
        for role in ROLES:
            if role not in d.info["ports"]:
                port_map[role] = None
                continue
            width = int(d.info["ports"][role])
            direction = "output" if role.startswith("out_") and role != "out_ready" else "input"
            if role == "in_ready":
                direction = "output"
            rng = f" [{width - 1}:0]" if width > 1 else ""
            ports.append(f"{direction} wire{rng} {n}_{role}")
            conns.append(f".{role}({n}_{role})")
            port_map[role] = f"{n}_{role}"
        insts.append(f"    {n} u_{n} ({', '.join(conns)});")
        info = copy.deepcopy(d.info)
        info["port_map"] = port_map
        for p in info["layers"]:
            p["signal"] = f"u_{n}.{p['signal']}"
        infos.append(info)
    lines = [d.verilog for d in designs]
    lines += ["`default_nettype none", "", f"module {top} ("]
    lines += [f"    {p}{',' if k < len(ports) - 1 else ''}" for k, p in enumerate(ports)]
    lines += [");", "", *insts, "", "endmodule", "", "`default_nettype wire", ""]
    return "\n".join(lines), infos
