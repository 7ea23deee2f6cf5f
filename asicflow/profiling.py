"""Numerical profiling: each layer's weight and activation ranges against its fixed-point types.

From the golden trace on the stimuli (every value the hardware actually stored) and, where the
model was tapped, QKeras's own outputs. Written as ``profile.md`` (a table of bits used per
layer) and ``profile.png`` (log2 magnitude ranges as bars over the types' representable
ranges, like hls4ml's profiling plot).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asicflow.fixed import FixedType, IntArray, for_raw_range
from asicflow.ir import Graph


@dataclass(frozen=True)
class Row:
    layer: str
    what: str  # "output" | "weights" | "bias" | "scale"
    type: FixedType
    lo: int  # raw range seen, at type.frac
    hi: int
    count: int
    qkeras: tuple[float, float] | None = None  # QKeras's own output range (tapped layers)

    @property
    def bits_used(self) -> int:
        """Width the seen range needs at the type's LSB (sign included when negative)."""
        return for_raw_range(min(self.lo, 0), max(self.hi, 0), self.type.frac).width

    @property
    def real(self) -> tuple[float, float]:
        return self.lo * self.type.lsb, self.hi * self.type.lsb

    @property
    def headroom_bits(self) -> int:
        return self.type.width - self.bits_used


def profile(
    graph: Graph, trace: dict[str, IntArray], ref: dict[str, np.ndarray] | None = None
) -> list[Row]:
    """One row per layer output and per parameter array."""
    rows: list[Row] = []
    for lay in graph.layers:
        v = np.asarray(trace[lay.name])
        q = None
        if ref is not None and f"qkeras.{lay.name}" in ref:
            r = ref[f"qkeras.{lay.name}"]
            q = (float(r.min()), float(r.max()))
        rows.append(
            Row(lay.name, "output", lay.out_type, int(v.min()), int(v.max()), int(v.size), q)
        )
        for k, arr in lay.arrays().items():
            a = np.asarray(arr)
            if a.size:
                rows.append(
                    Row(lay.name, k, lay.array_type(k), int(a.min()), int(a.max()), int(a.size))
                )
    return rows


def markdown(rows: list[Row]) -> str:
    head = (
        "| layer | value | type | bits | bits used | headroom | range seen | type range | "
        "QKeras range |\n|---|---|---|---:|---:|---:|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lo, hi = r.real
        q = f"[{r.qkeras[0]:g}, {r.qkeras[1]:g}]" if r.qkeras else ""
        lines.append(
            f"| {r.layer} | {r.what} | `{r.type.short()}` | {r.type.width} | {r.bits_used} | "
            f"{r.headroom_bits} | [{lo:g}, {hi:g}] | [{r.type.min:g}, {r.type.max:g}] | {q} |"
        )
    return "\n".join(lines) + "\n"


def _log2_span(lo: float, hi: float, floor: float) -> tuple[float, float]:
    m = max(abs(lo), abs(hi))
    return floor, float(np.log2(m)) if m > 0 else floor


def plot(rows: list[Row], path: Path, title: str) -> None:
    """Horizontal bars: log2 of the largest magnitude seen (dark) over the type's range
    from its LSB to its largest magnitude (light)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    labels = []
    for i, r in enumerate(rows):
        t = r.type
        t_lo, t_hi = np.log2(t.lsb), np.log2(max(abs(t.min), abs(t.max), t.lsb))
        ax.barh(i, t_hi - t_lo, left=t_lo, color="#c6dbef", height=0.8)
        lo, hi = r.real
        m = max(abs(lo), abs(hi))
        if m > 0:
            ax.barh(i, max(np.log2(m) - t_lo, 0.2), left=t_lo, color="#2171b5", height=0.4)
        if r.qkeras:
            qm = max(abs(r.qkeras[0]), abs(r.qkeras[1]))
            if qm > 0:
                ax.plot([np.log2(qm)], [i], "k|", markersize=12)
        labels.append(f"{r.layer}.{r.what}")
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("log2 |value|  (light: type LSB..max; dark: largest seen; |: QKeras max)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(
    graph: Graph,
    trace: dict[str, IntArray],
    folder: Path,
    ref: dict[str, np.ndarray] | None = None,
) -> list[Row]:
    """Write ``profile.md`` and ``profile.png`` into ``folder``."""
    rows = profile(graph, trace, ref)
    (folder / "profile.md").write_text(
        f"# Numerical profile of {graph.name}\n\nRanges over the golden model's stimuli; "
        "'bits used' is the width the seen range needs at the type's LSB.\n\n" + markdown(rows)
    )
    plot(rows, folder / "profile.png", f"{graph.name}: ranges vs fixed-point types")
    return rows
