"""Triple modular redundancy on any Verilog design, in RTLIL with pyosys (run as a child).

``python -m asicflow.tmr_run request.json`` (a Yosys ERROR ends the hosting process, so the
flow never imports pyosys itself; ``asicflow.tmr`` writes the request and runs this through
``StepContext.run``). The request names ``source`` (Verilog), ``top``, ``output`` (Verilog),
``report`` (JSON), ``exclude`` (register name globs) and ``voter`` (``majority``, or
``broken``: a deliberately wrong voter, only to show that the equivalence check has teeth).

After ``proc; flatten; opt; dffunmap -ce-only`` every register is one flip-flop cell (``$dff``,
``$sdff``, ``$adff``, ...; clock enables turned into hold muxes). For each one not excluded:

- the cell drives a new wire ``<reg>_tmr0`` and two clones (same type, parameters, clock,
  data, enable and reset) drive ``<reg>_tmr1`` and ``<reg>_tmr2``; all three carry ``keep``
  so ``opt_merge`` (which would see three identical cells) and ``opt_clean`` leave them;
- a per-bit majority voter ``(a&b)|(a&c)|(b&c)`` drives the original register wire, so
  every reader, including the register's own feedback (enable/hold muxes), sees the voted
  value and a single upset is both masked and repaired at the next clock edge;
- ``(a^b)|(a^c)`` of every bit is OR-ed into the new output port ``tmr_error``.

The module name and every other port are unchanged. The report lists each register
(name, width, source wire and offset, cell type, replica names) for the verification.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path
from typing import Any

from asicflow.tmr import PREPARE


def _name(ident: str) -> str:
    return ident[1:] if ident.startswith("\\") else ident


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text).strip("_") or "r"


def triplicate(request: dict[str, Any]) -> dict[str, Any]:
    from pyosys import libyosys as ys

    def idstr(name: str) -> Any:
        return ys.IdString("\\" + name)

    design = ys.Design()
    top = str(request["top"])
    ys.run_pass(f"read_verilog -sv {request['source']}", design)
    ys.run_pass(f"hierarchy -check -top {top}", design)
    # Clock enables become muxes fed back from the register wire, i.e. from the voter once
    # triplicated: a replica that took an upset while its enable is low is rewritten with
    # the voted value at the next edge (scrubbing) instead of holding the error.
    ys.run_pass(PREPARE, design)
    mod = design.top_module()
    if mod.wire(idstr("tmr_error")) is not None:
        raise SystemExit(f"{top} already has a signal named tmr_error")
    used: set[str] = {_name(w.name.str()) for w in mod.wires_.values()}

    def fresh(base: str) -> str:
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        return name

    exclude = [str(p) for p in request.get("exclude", [])]
    broken = request.get("voter", "majority") == "broken"
    registers: list[dict[str, Any]] = []
    excluded: list[str] = []
    errors: list[Any] = []
    q_port = ys.IdString("\\Q")
    ffs = [c for c in mod.cells_.values() if c.is_builtin_ff()]
    for cell in sorted(ffs, key=lambda c: c.name.str()):
        q = cell.getPort(q_port)
        width = q.size()
        if q.is_chunk() and q.as_chunk().wire is not None:
            chunk = q.as_chunk()
            wire_name = _name(chunk.wire.name.str())
            offset = int(chunk.offset)
            whole = offset == 0 and width == chunk.wire.width
            reg = wire_name if whole else f"{wire_name}[{offset + width - 1}:{offset}]"
        else:
            wire_name, offset = "", 0
            reg = _name(cell.name.str())
        if any(fnmatch.fnmatchcase(reg, p) or fnmatch.fnmatchcase(wire_name, p) for p in exclude):
            excluded.append(reg)
            continue
        base = _safe(reg)
        reps = [mod.addWire(idstr(fresh(f"{base}_tmr{i}")), width) for i in range(3)]
        cell.setPort(q_port, ys.SigSpec(reps[0]))
        cells = [cell]
        for i in (1, 2):
            clone = mod.addCell(idstr(fresh(f"{base}_tmr{i}_ff")), cell.type)
            for param, value in cell.parameters.items():
                clone.setParam(param, value)
            for port, sig in cell.connections_.items():
                clone.setPort(port, ys.SigSpec(reps[i]) if port == q_port else sig)
            cells.append(clone)
        for c in cells:
            c.set_bool_attribute(ys.IdString("\\keep"), True)
        for w in reps:
            w.set_bool_attribute(ys.IdString("\\keep"), True)
        a, b, c3 = (ys.SigSpec(w) for w in reps)

        def tmp(tag: str, base: str = base, width: int = width) -> Any:
            return ys.SigSpec(mod.addWire(ys.IdString(f"$tmr${base}${tag}"), width))

        ab, ac, bc, o1, voted = (tmp(t) for t in ("ab", "ac", "bc", "o1", "vote"))
        mod.addAnd(ys.IdString(f"$tmr${base}$and_ab"), a, b, ab)
        if broken:  # one input inverted: wrong whenever all three replicas agree on 1
            nc = tmp("nc")
            mod.addNot(ys.IdString(f"$tmr${base}$not_c"), c3, nc)
            mod.addAnd(ys.IdString(f"$tmr${base}$and_vote"), ab, nc, voted)
        else:
            mod.addAnd(ys.IdString(f"$tmr${base}$and_ac"), a, c3, ac)
            mod.addAnd(ys.IdString(f"$tmr${base}$and_bc"), b, c3, bc)
            mod.addOr(ys.IdString(f"$tmr${base}$or1"), ab, ac, o1)
            mod.addOr(ys.IdString(f"$tmr${base}$or2"), o1, bc, voted)
        mod.connect(q, voted)
        xab, xac, dis = tmp("xab"), tmp("xac"), tmp("dis")
        mod.addXor(ys.IdString(f"$tmr${base}$xor_ab"), a, b, xab)
        mod.addXor(ys.IdString(f"$tmr${base}$xor_ac"), a, c3, xac)
        mod.addOr(ys.IdString(f"$tmr${base}$or_dis"), xab, xac, dis)
        errors.append(dis)
        registers.append(
            {
                "name": reg,
                "wire": wire_name,
                "offset": offset,
                "width": width,
                "type": _name(cell.type.str()),
                "replicas": [_name(w.name.str()) for w in reps],
            }
        )
    err = mod.addWire(idstr("tmr_error"), 1)
    err.port_output = True
    if errors:
        all_dis = ys.SigSpec()
        for sig in errors:
            all_dis.append(sig)
        mod.addReduceOr(ys.IdString("$tmr$error"), all_dis, ys.SigSpec(err))
    else:
        mod.connect(ys.SigSpec(err), ys.SigSpec(ys.State.S0, 1))
    mod.fixup_ports()
    ys.run_pass("opt_clean", design)  # no opt_merge: it would fold the voters' inputs
    # $pmux cells (the I2C target's case statements) would be written as Verilog functions
    # with escaped '$' names, which Icarus takes for system functions: write mux trees.
    ys.run_pass("pmuxtree", design)
    ys.run_pass(f"write_verilog -norename {request['output']}", design)
    return {
        "top": top,
        "registers": registers,
        "excluded": excluded,
        "flip_flops": sum(r["width"] for r in registers),
        "voter": request.get("voter", "majority"),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m asicflow.tmr_run REQUEST.json\n")
        return 2
    request = json.loads(Path(argv[0]).read_text())
    report = triplicate(request)
    Path(request["report"]).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
