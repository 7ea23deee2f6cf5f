"""Fan-out buffering of a mapped gate netlist: every net read by more than ``max_fanout``
cell inputs gets a tree of the PDK's buffer cell, at most ``max_fanout`` loads per driver.

Yosys and ABC map logic without a fan-out limit: the phase register of a time-multiplexed
design drove about 17,000 multiplexer inputs (35 pF) from one flip-flop, 225 ns in OpenSTA.
Place-and-route repairs such nets (OpenROAD's ``repair_design``), but the flow's own timing
is read before layout, so the synth step builds the trees a repair would (ABC's ``buffer``
leaves flip-flop outputs alone: they are its primary inputs). Clock pins (``clock : true``
in the Liberty) are not loads here: clock tree synthesis is the layout's job and the sta
step takes the clock as ideal.

The netlist is the one ``write_verilog -noattr -noexpr`` writes after ``splitnets``: one
instance per cell, named pin connections, one net (or a constant) per connection.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

_CELL = re.compile(r'^\s*cell\s*\(\s*"?([^"\s)]+)"?\s*\)', re.MULTILINE)
_PIN = re.compile(r'^\s*pin\s*\(\s*"?([^"\s)]+)"?\s*\)\s*\{', re.MULTILINE)
_ATTR = re.compile(r'^\s*(direction|clock)\s*:\s*"?(\w+)"?\s*;', re.MULTILINE)
# an instance: "  <cell> <name> (" then ".PIN(net)," lines, then "  );"
_INSTANCE = re.compile(r"^  (\S+) (\\\S+ |\S+) \(\n((?:    \..*\n)*)  \);\n", re.MULTILINE)
_CONN = re.compile(r"\.(\w+)\((.*)\)")


@dataclass(frozen=True)
class Pins:
    """Per cell: its output pins and its clock pins (the rest are data inputs)."""

    outputs: dict[str, frozenset[str]]
    clocks: dict[str, frozenset[str]]


@functools.lru_cache(maxsize=8)
def liberty_pins(lib: Path) -> Pins:
    text = lib.read_text(errors="replace")
    outputs: dict[str, frozenset[str]] = {}
    clocks: dict[str, frozenset[str]] = {}
    cells = list(_CELL.finditer(text))
    for i, cell in enumerate(cells):
        end = cells[i + 1].start() if i + 1 < len(cells) else len(text)
        pins = list(_PIN.finditer(text, cell.end(), end))
        outs, clks = set(), set()
        for k, pin in enumerate(pins):
            stop = pins[k + 1].start() if k + 1 < len(pins) else end
            attrs = {a.group(1): a.group(2) for a in _ATTR.finditer(text, pin.end(), stop)}
            if attrs.get("direction") == "output":
                outs.add(pin.group(1))
            if attrs.get("clock") == "true":
                clks.add(pin.group(1))
        outputs[cell.group(1)] = frozenset(outs)
        clocks[cell.group(1)] = frozenset(clks)
    return Pins(outputs, clocks)


def buffer_fanout(netlist: Path, pins: Pins, buffer: tuple[str, str, str], max_fanout: int) -> int:
    """Rewrite ``netlist`` with buffer trees on every net of more than ``max_fanout`` data
    loads; ``buffer`` is (cell, input pin, output pin). Returns the buffers added."""
    text = netlist.read_text()
    instances = list(_INSTANCE.finditer(text))
    conns: list[list[list[str]]] = []  # per instance: [pin, net] pairs, edited in place
    loads: dict[str, list[tuple[int, int]]] = defaultdict(list)
    clock_nets: set[str] = set()
    for i, inst in enumerate(instances):
        cell = inst.group(1)
        outs = pins.outputs.get(cell, frozenset())
        clks = pins.clocks.get(cell, frozenset())
        pairs = []
        for k, line in enumerate(inst.group(3).splitlines()):
            found = _CONN.search(line)
            if found is None:
                raise ValueError(f"{netlist}: unexpected connection {line.strip()!r}")
            pin, net = found.group(1), found.group(2)
            pairs.append([pin, net])
            if pin in clks:
                clock_nets.add(net)
            elif pin not in outs and net and not net[0].isdigit():
                loads[net].append((i, k))
        conns.append(pairs)
    cell, pin_in, pin_out = buffer
    added: list[tuple[str, str, str]] = []  # (instance, input net, output net)
    for net, sinks in loads.items():
        if net in clock_nets or len(sinks) <= max_fanout:
            continue
        level = 0
        while len(sinks) > max_fanout:
            level += 1
            parents: list[tuple[int, int]] = []
            for g in range(0, len(sinks), max_fanout):
                out = f"fanout_{len(added)}"
                for i, k in sinks[g : g + max_fanout]:
                    if i >= 0:
                        conns[i][k][1] = out
                    else:  # a buffer of the level below
                        b = added[-i - 1]
                        added[-i - 1] = (b[0], out, b[2])
                added.append((f"fanout_buf_{len(added)}", net, out))
                parents.append((-len(added), 0))
            sinks = parents
    if not added:
        return 0
    parts: list[str] = []
    pos = 0
    for inst, pairs in zip(instances, conns, strict=True):
        parts.append(text[pos : inst.start(3)])
        parts.append(",\n".join(f"    .{p}({n})" for p, n in pairs) + "\n")
        pos = inst.end(3)
    parts.append(text[pos:])
    body = "".join(parts)
    first = instances[0].start()
    decls = "".join(f"  wire {out};\n" for _, _, out in added)
    cells = "".join(
        f"  {cell} {name} (\n    .{pin_in}({src}),\n    .{pin_out}({out})\n  );\n"
        for name, src, out in added
    )
    netlist.write_text(body[:first] + decls + cells + body[first:])
    return len(added)
