"""Switching activity measured in a simulation dump (VCD or SAIF) of the design.

For every bit of the requested signals (the top's ports, and the RTL signals that survive
synthesis under their own name: registers), the activity (toggles per clock cycle, the clock
counted by its rising edges in the dump) and the duty (fraction of the time at 1). The dump's
DUT scope is the scope that holds every requested port and the clock; when several do (a
testbench with same-named signals, Verilator's ``TOP``), the one holding most of the other
requested signals, then the outermost.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from asicflow.errors import AsicflowError


@dataclass(frozen=True)
class BitActivity:
    signal: str
    bit: int | None  # None: a scalar signal
    activity: float  # toggles per clock cycle
    duty: float  # fraction of the time at 1

    @property
    def name(self) -> str:
        return self.signal if self.bit is None else f"{self.signal}[{self.bit}]"


@dataclass(frozen=True)
class Activity:
    """Measured activities and where they came from."""

    source: Path
    scope: str  # hierarchical path of the DUT instance, '/'-separated
    cycles: float
    bits: list[BitActivity]

    def mean(self, signals: Collection[str] | None = None) -> float:
        """Mean activity over every measured bit (of ``signals`` only, if given)."""
        bits = [b for b in self.bits if signals is None or b.signal in signals]
        return sum(b.activity for b in bits) / len(bits) if bits else 0.0

    def count(self, signals: Collection[str] | None = None) -> int:
        return sum(1 for b in self.bits if signals is None or b.signal in signals)


def read_activity(
    path: Path, ports: Collection[str], clock: str, nets: Collection[str] = ()
) -> Activity:
    """Activity of every bit of ``ports`` (all required) and of those ``nets`` the dump has,
    from a ``.vcd`` or ``.saif`` file (see the module docstring)."""
    if path.suffix == ".vcd":
        return _read_vcd(path, set(ports), clock, set(nets))
    if path.suffix == ".saif":
        return _read_saif(path, set(ports), clock, set(nets))
    raise AsicflowError(f"{path}: activity files must be .vcd or .saif")


def _pick_scope(
    path: Path, scopes: dict[tuple[str, ...], set[str]], ports: set[str], clock: str, nets: set[str]
) -> tuple[str, ...]:
    wanted = ports | {clock}
    hits = [s for s, names in scopes.items() if wanted <= names]
    if not hits:
        raise AsicflowError(f"{path}: no scope holds the signals {', '.join(sorted(wanted))}")
    return min(hits, key=lambda s: (-len(scopes[s] & nets), len(s)))


# --- VCD -----------------------------------------------------------------------------------


def _vcd_tokens(path: Path) -> Iterator[str]:
    with path.open(errors="replace") as fh:
        for line in fh:
            yield from line.split()


def _until_end(tokens: Iterator[str]) -> list[str]:
    out = []
    for tok in tokens:
        if tok == "$end":
            break
        out.append(tok)
    return out


def _bits(x: int) -> Iterator[int]:
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def _vcd_int(raw: str, previous: int) -> int:
    """A VCD value as an integer; x/z bits keep their previous value."""
    if all(ch in "01" for ch in raw):
        return int(raw, 2) if raw else 0
    out = 0
    n = len(raw)
    for i, ch in enumerate(raw):
        bit = n - 1 - i
        if ch == "1":
            out |= 1 << bit
        elif ch != "0":
            out |= previous & (1 << bit)
    return out


def _read_vcd(path: Path, ports: set[str], clock: str, nets: set[str]) -> Activity:
    tokens = _vcd_tokens(path)
    scope: list[str] = []
    # scope -> signal name -> (identifier code, width, lsb index; None for a scalar)
    signals: dict[tuple[str, ...], dict[str, tuple[str, int, int | None]]] = {}
    for tok in tokens:
        if tok == "$scope":
            parts = _until_end(tokens)
            scope.append(parts[1] if len(parts) > 1 else "")
        elif tok == "$upscope":
            _until_end(tokens)
            scope.pop()
        elif tok == "$var":
            parts = _until_end(tokens)  # type width id name [range]
            width = int(parts[1])
            r = re.match(r"\[(\d+)(?::(\d+))?\]", parts[4]) if len(parts) > 4 else None
            lsb = int(r.group(2) if r.group(2) is not None else r.group(1)) if r else None
            if lsb is None and width > 1:
                lsb = 0
            signals.setdefault(tuple(scope), {})[parts[3]] = (parts[2], width, lsb)
        elif tok == "$enddefinitions":
            _until_end(tokens)
            break
        elif tok.startswith("$"):
            _until_end(tokens)
    where = _pick_scope(path, {s: set(v) for s, v in signals.items()}, ports, clock, nets)
    measured = sorted((ports | nets) & set(signals[where]) - {clock})
    by_id: dict[str, list[str]] = {}
    for name in [*measured, clock]:
        by_id.setdefault(signals[where][name][0], []).append(name)

    value = dict.fromkeys([*measured, clock], 0)
    since = dict.fromkeys(measured, 0)
    toggles = {n: [0] * signals[where][n][1] for n in measured}
    high = {n: [0] * signals[where][n][1] for n in measured}
    edges, now, first = 0, 0, None

    def settle(name: str, new: int) -> None:
        old = value[name]
        dt = now - since[name]
        for b in _bits(old):
            high[name][b] += dt
        for b in _bits(old ^ new):
            toggles[name][b] += 1
        since[name] = now
        value[name] = new

    def change(ident: str, raw: str) -> None:
        nonlocal edges
        for name in by_id.get(ident, ()):
            new = _vcd_int(raw, value[name])
            if name == clock:
                edges += int(not value[name] & 1 and bool(new & 1))
                value[name] = new
            else:
                settle(name, new)

    for tok in tokens:
        c = tok[0]
        if c == "#":
            now = int(tok[1:])
            first = now if first is None else first
        elif c in "bBrR":
            change(next(tokens), tok[1:])
        elif c in "01xXzZ" and len(tok) > 1:
            change(tok[1:], c)
    for name in measured:
        settle(name, value[name])
    if edges == 0:
        raise AsicflowError(f"{path}: the clock '{clock}' never rises in the dump")
    span = max(now - (first or 0), 1)
    bits = []
    for name in measured:
        _, width, lsb = signals[where][name]
        for b in range(width):
            bits.append(
                BitActivity(
                    name,
                    None if lsb is None else lsb + b,
                    toggles[name][b] / edges,
                    high[name][b] / span,
                )
            )
    return Activity(path, "/".join(where), float(edges), bits)


# --- SAIF ----------------------------------------------------------------------------------

_SAIF_TOKEN = re.compile(r'\(|\)|"[^"]*"|[^\s()]+')
_SAIF_BIT = re.compile(r"^(.*)\[(\d+)\]$")


def _saif_tree(path: Path) -> list[object]:
    stack: list[list[object]] = [[]]
    for m in _SAIF_TOKEN.finditer(path.read_text(errors="replace")):
        tok = m.group(0)
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) < 2:
                raise AsicflowError(f"{path}: unbalanced parentheses")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok.replace("\\", ""))
    return stack[0]


def _read_saif(path: Path, ports: set[str], clock: str, nets: set[str]) -> Activity:
    tree = _saif_tree(path)
    top = next((n for n in tree if isinstance(n, list) and n and n[0] == "SAIFILE"), None)
    if top is None:
        raise AsicflowError(f"{path}: not a SAIF file (no SAIFILE)")
    duration = next(
        (float(str(n[1])) for n in top if isinstance(n, list) and n[:1] == ["DURATION"]), 0.0
    )
    # instance path -> net name (bit-blasted, e.g. a[3]) -> {T0, T1, TX, TC}
    found: dict[tuple[str, ...], dict[str, dict[str, float]]] = {}

    def walk(node: list[object], where: tuple[str, ...]) -> None:
        for child in node:
            if not isinstance(child, list) or not child:
                continue
            if child[0] == "INSTANCE":
                name = str(child[1]) if len(child) > 1 and not isinstance(child[1], list) else ""
                walk(child, (*where, name))
            elif child[0] in ("NET", "PORT"):
                for net in child[1:]:
                    if isinstance(net, list) and net:
                        found.setdefault(where, {})[str(net[0])] = {
                            str(k[0]): float(str(k[1]))
                            for k in net[1:]
                            if isinstance(k, list) and len(k) > 1
                        }

    walk(top, ())

    def base(net: str) -> str:
        m = _SAIF_BIT.match(net)
        return m.group(1) if m else net

    where = _pick_scope(
        path, {s: {base(n) for n in v} for s, v in found.items()}, ports, clock, nets
    )
    records = found[where]
    edges = records.get(clock, {}).get("TC", 0.0) / 2.0
    if edges <= 0:
        raise AsicflowError(f"{path}: the clock '{clock}' never toggles")
    bits = []
    for net, rec in sorted(records.items()):
        name = base(net)
        if name == clock or name not in ports | nets:
            continue
        m = _SAIF_BIT.match(net)
        span = duration or (rec.get("T0", 0) + rec.get("T1", 0) + rec.get("TX", 0))
        bits.append(
            BitActivity(
                name,
                int(m.group(2)) if m else None,
                rec.get("TC", 0.0) / edges,
                rec.get("T1", 0.0) / span if span else 0.5,
            )
        )
    return Activity(path, "/".join(where), edges, bits)
