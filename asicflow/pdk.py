"""PDK configuration (``pdk_configs/<name>.yaml``) and where its files are on this machine.

A PDK YAML names files *relative to a PDK root*; the root is configuration, never code:

1. the flow's ``pdk_root``,
2. else ``$ASICFLOW_PDK_ROOT``,
3. else a lambdapdk copy that SiliconCompiler downloaded into its cache (``~/.sc/cache``:
   ``lambdapdk-<ref>`` folders, under ``dataroot/`` in recent releases),
4. else a :class:`ConfigError` that says how to point the flow at the data.

:func:`resolve_pdk` checks the corner and every referenced file and reports all problems at
once, before any tool runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from asicflow import schema
from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ConfigError
from asicflow.schema import key, section

PDK_ROOT_ENV = "ASICFLOW_PDK_ROOT"
# The project's PDK configurations: <project>/pdk_configs beside the package.
PDK_CONFIGS = Path(__file__).resolve().parent.parent / "pdk_configs"
# SiliconCompiler's default cache (option 'cachedir'); lambdapdk's data lands in it.
SC_CACHE = Path("~/.sc/cache")
LAMBDAPDK_URL = "https://github.com/siliconcompiler/lambdapdk"


@dataclass(frozen=True)
class LambdaNames:
    pdk: str = key("", "lambdapdk PDK name, for SiliconCompiler (e.g. sky130)")
    library: str = key("", "lambdapdk standard-cell library name (e.g. sky130hd)")


@dataclass(frozen=True)
class ScNames:
    target: str = key(
        "",
        "SiliconCompiler target that configures this PDK and its cell library "
        "(a function of siliconcompiler.targets, e.g. skywater130_demo); empty: "
        "asicflow builds both from this file (files, cells and 'physical')",
    )
    dataroot: str = key(
        "asicflow_pdk",
        "dataroot name the PDK's files are registered under in "
        "SiliconCompiler (lambdapdk's libraries use 'lambdapdk'); "
        "asicflow points it at the PDK root, so nothing is "
        "downloaded",
    )
    pdk: str = key("", "SiliconCompiler PDK name (default: this configuration's name)")
    library: str = key(
        "", "SiliconCompiler standard-cell library name (default: this " "configuration's name)"
    )


@dataclass(frozen=True)
class DelayModelConfig:
    sum_ns: float = key(0.0, "adder: operand bit to its sum bit", unit="ns")
    carry_ns: float = key(0.0, "adder: carry from one bit to the next", unit="ns")
    register_ns: float = key(0.0, "flip-flop clock-to-output plus setup", unit="ns")
    margin_ns: float = key(0.0, "the calibration's worst underestimate, kept free", unit="ns")
    fanout_ns: float = key(
        0.0, "a signal read by n adders: this much later per doubling of n", unit="ns"
    )
    csa_ns: float = key(0.0, "one carry-save level of a merged multi-operand sum", unit="ns")
    derate: float = key(1.0, "measured / modelled worst stage of pipelined calibration layers")
    voter_ns: float = key(
        0.0,
        "what TMR insertion (a majority voter after every register) adds to a stage, measured",
        unit="ns",
    )
    mul_ns: float = key(
        0.0,
        "a multiplier's partial products (weights as ports) beyond its carry-save levels",
        unit="ns",
    )
    cast_ns: float = key(
        0.0,
        "a layer's cast and activation beyond the model's two sum delays, measured on the "
        "calibration networks",
        unit="ns",
    )

    @property
    def calibrated(self) -> bool:
        return self.sum_ns > 0 and self.carry_ns > 0


@dataclass(frozen=True)
class Corner:
    liberty: str = key(doc="Liberty timing library (.lib or .lib.gz), relative to the PDK root")
    voltage_v: float = key(0.0, "supply voltage of the characterization (for the record)", unit="V")
    temperature_c: float = key(
        25.0, "temperature of the characterization (for the record)", unit="degC"
    )
    lambdapdk_corner: str = key("", "the same corner's name in lambdapdk (typical, slow, fast)")
    delay_model: DelayModelConfig = section(
        DelayModelConfig,
        "the RTL pipeliner's adder delays on this corner (python -m asicflow.rtl.calibrate)",
    )


@dataclass(frozen=True)
class PdkFiles:
    lef: str = key("", "merged standard-cell LEF, relative to the PDK root")
    tech_lef: str = key("", "technology LEF, relative to the PDK root")
    gds: str = key("", "standard-cell GDS, relative to the PDK root")
    verilog: list[str] = key(
        [], "cell Verilog models (gate-level simulation), relative to the " "PDK root"
    )
    layer_map: str = key(
        "",
        "KLayout technology/layer map (.lyt) for the GDS export of pnr, "
        "relative to the PDK root (pnr without a SiliconCompiler target)",
    )


@dataclass(frozen=True)
class TieCell:
    cell: str = key(doc="tie cell name")
    pin: str = key(doc="its output pin")


@dataclass(frozen=True)
class BufferCell:
    cell: str = key(doc="buffer cell name (also the driving cell of inputs in sta)")
    input: str = key(doc="its input pin")
    output: str = key(doc="its output pin")


@dataclass(frozen=True)
class PdkCells:
    tie_hi: TieCell = key(doc="cell driving constant 1")
    tie_lo: TieCell = key(doc="cell driving constant 0")
    buffer: BufferCell = key(doc="plain buffer")
    max_fanout: int = key(
        16, "data loads per driver before synth adds a buffer tree (the repair layout would do)"
    )
    dont_use: list[str] = key([], "cells synthesis must never map to (simple globs allowed)")
    # Physical cells: needed by pnr when asicflow builds the SiliconCompiler library itself.
    tap: str = key("", "well-tap cell (pnr)")
    endcap: str = key("", "end-cap cell placed at row ends (pnr)")
    fill: list[str] = key([], "filler cells, any order (pnr)")
    clock_buffers: list[str] = key([], "buffers clock tree synthesis may use (pnr)")
    hold: list[str] = key([], "delay cells for hold fixing (pnr)")
    antenna: str = key("", "antenna diode cell (pnr)")


@dataclass(frozen=True)
class PnrScripts:
    power_grid: str = key("", "OpenROAD power-grid script (pdngen Tcl), relative to the PDK root")
    global_connect: str = key(
        "", "OpenROAD global-connect script (supply pins to nets), " "relative to the PDK root"
    )
    tapcell: str = key("", "OpenROAD tap/end-cap insertion script, relative to the PDK root")
    tracks: str = key(
        "",
        "OpenROAD routing-tracks script (optional: default from the tech "
        "LEF), relative to the PDK root",
    )


@dataclass(frozen=True)
class PhysicalConfig:
    """What place and route needs when no SiliconCompiler target describes the PDK."""

    node_nm: float = key(0.0, "process node (for the record)", unit="nm")
    stackup: str = key("", "metal stack name (for the record, e.g. 9M_6X_2Z)")
    site: list[str] = key([], "standard-cell placement site(s): LEF SITE names")
    routing_layer_min: str = key("", "lowest routing layer (LEF layer name)")
    routing_layer_max: str = key("", "highest routing layer (LEF layer name)")
    pin_layers_horizontal: list[str] = key([], "layers for pins on the top and bottom edges")
    pin_layers_vertical: list[str] = key([], "layers for pins on the left and right edges")
    rc_layer_signal: str = key("", "layer whose RC estimates signal wires before extraction")
    rc_layer_clock: str = key("", "layer whose RC estimates clock wires before extraction")
    place_density: float = key(0.6, "OpenROAD global placement target density (0..1)")
    macro_halo_um: float = key(10.0, "keep-out around macros for macro placement", unit="um")
    abc_clock_multiplier: float = key(
        1000.0,
        "factor from Liberty time units to ps for ABC " "(1000 when the Liberty time unit is 1ns)",
    )
    abc_load_ff: float = key(5.0, "output load ABC assumes when mapping", unit="fF")
    setup_corner: str = key("", "corner for setup checks (default: default_corner)")
    hold_corner: str = key("", "corner for hold checks (default: default_corner)")
    power_corner: str = key("", "corner for power (default: default_corner)")
    pex_corner: str = key("typical", "parasitics corner name given to OpenROAD")
    scripts: PnrScripts = section(PnrScripts, "OpenROAD scripts the foundry kit provides")


@dataclass(frozen=True, kw_only=True)
class PdkConfig:
    name: str = key(doc="PDK configuration name")
    description: str = key("", "one line for reports")
    lambdapdk: LambdaNames = section(LambdaNames, "the same PDK's names in lambdapdk")
    siliconcompiler: ScNames = section(ScNames, "how pnr sets the PDK up in SiliconCompiler")
    corners: dict[str, Corner] = key(doc="timing corners {name: {liberty, voltage_v, ...}}")
    default_corner: str = key(doc="corner used when the flow's 'corner' is empty")
    files: PdkFiles = section(PdkFiles, "physical views and models")
    cells: PdkCells = key(doc="cells synthesis and sta need")
    physical: PhysicalConfig = section(
        PhysicalConfig, "place and route data (only without a " "SiliconCompiler target)"
    )

    # Set by the loader, not by users.
    source: Path = dataclasses.field(default=Path(), metadata={"internal": True})

    def referenced(self) -> list[tuple[str, str]]:
        """(key, relative path) of every file this configuration names."""
        out = [(f"corners.{n}.liberty", c.liberty) for n, c in self.corners.items()]
        for k in ("lef", "tech_lef", "gds"):
            rel = getattr(self.files, k)
            if rel:
                out.append((f"files.{k}", rel))
        out.extend((f"files.verilog[{i}]", v) for i, v in enumerate(self.files.verilog))
        return out

    def missing(self, root: Path, pnr: bool = False) -> list[str]:
        """One problem per referenced file that does not exist under ``root``."""
        refs = self.referenced() + (self.pnr_referenced() if pnr else [])
        return [
            f"'{k}': file not found: {root / rel}" for k, rel in refs if not (root / rel).is_file()
        ]

    @property
    def has_sc_target(self) -> bool:
        return bool(self.siliconcompiler.target)

    def pnr_referenced(self) -> list[tuple[str, str]]:
        """(key, relative path) of the files pnr needs beyond synth/sta's (none with a
        SiliconCompiler target: the target names its own files, SiliconCompiler checks them)."""
        if self.has_sc_target:
            return []
        out = [("files.layer_map", self.files.layer_map)]
        s = self.physical.scripts
        out += [
            (f"physical.scripts.{k}", getattr(s, k))
            for k in ("power_grid", "global_connect", "tapcell", "tracks")
            if getattr(s, k)
        ]
        return [(k, rel) for k, rel in out if rel]

    def pnr_problems(self) -> list[str]:
        """Keys pnr needs that this configuration leaves empty (all at once)."""
        if self.has_sc_target:
            return []
        why = "(needed by pnr when 'siliconcompiler.target' is empty)"
        need: list[tuple[str, object]] = [
            ("files.lef", self.files.lef),
            ("files.tech_lef", self.files.tech_lef),
            ("files.gds", self.files.gds),
            ("files.layer_map", self.files.layer_map),
            ("cells.tap", self.cells.tap),
            ("cells.endcap", self.cells.endcap),
            ("cells.fill", self.cells.fill),
            ("cells.clock_buffers", self.cells.clock_buffers),
            ("physical.site", self.physical.site),
            ("physical.routing_layer_min", self.physical.routing_layer_min),
            ("physical.routing_layer_max", self.physical.routing_layer_max),
            ("physical.pin_layers_horizontal", self.physical.pin_layers_horizontal),
            ("physical.pin_layers_vertical", self.physical.pin_layers_vertical),
            ("physical.scripts.power_grid", self.physical.scripts.power_grid),
            ("physical.scripts.global_connect", self.physical.scripts.global_connect),
            ("physical.scripts.tapcell", self.physical.scripts.tapcell),
        ]
        problems = [f"'{k}' must be set {why}" for k, v in need if not v]
        for k in ("setup_corner", "hold_corner", "power_corner"):
            c = getattr(self.physical, k)
            if c and c not in self.corners:
                problems.append(
                    f"'physical.{k}' is {c!r}; choose one of " f"{', '.join(sorted(self.corners))}"
                )
        if not 0.0 < self.physical.place_density <= 1.0:
            problems.append("'physical.place_density' must be in (0, 1]")
        return problems


@dataclass(frozen=True)
class Pdk:
    """A PDK configuration bound to a root on this machine and to one corner."""

    config: PdkConfig
    root: Path
    root_from: str
    corner_name: str

    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def corner(self) -> Corner:
        return self.config.corners[self.corner_name]

    @property
    def liberty(self) -> Path:
        return self.path(self.corner.liberty)

    @property
    def lef(self) -> Path:
        return self.path(self.config.files.lef)

    @property
    def tech_lef(self) -> Path:
        return self.path(self.config.files.tech_lef)

    @property
    def gds(self) -> Path:
        return self.path(self.config.files.gds)

    @property
    def verilog(self) -> list[Path]:
        return [self.path(v) for v in self.config.files.verilog]


def _check(cfg: PdkConfig) -> list[str]:
    problems = []
    if not cfg.corners:
        problems.append("'corners' must name at least one corner")
    elif cfg.default_corner not in cfg.corners:
        problems.append(
            f"'default_corner' is {cfg.default_corner!r}; choose one of "
            f"{', '.join(cfg.corners)}"
        )
    for k, rel in cfg.referenced():
        if not rel:
            problems.append(f"'{k}' must not be empty")
    return problems


def available_pdks() -> list[str]:
    return sorted(p.stem for p in PDK_CONFIGS.glob("*.yaml"))


def pdk_config_path(pdk: str, base: Path | None = None, source: str = "flow") -> Path:
    """The YAML for ``pdk``: a name in ``pdk_configs/``, or a path (relative to ``base``)."""
    if pdk.endswith((".yaml", ".yml")) or os.sep in pdk or "/" in pdk:
        p = Path(pdk).expanduser()
        return p if p.is_absolute() else (base or Path.cwd()) / p
    path = PDK_CONFIGS / f"{pdk}.yaml"
    if not path.is_file():
        known = ", ".join(available_pdks()) or "none"
        raise ConfigError(
            source,
            [f"'pdk' is {pdk!r}: no {path}; known PDKs: {known} " "(or give a path to a PDK YAML)"],
        )
    return path


def load_pdk(pdk: str, base: Path | None = None, source: str = "flow") -> PdkConfig:
    """Read and validate one PDK YAML (no file checks: those need a root)."""
    path = pdk_config_path(pdk, base, source).resolve()
    cfg = schema.load(PdkConfig, schema.read_yaml(path), str(path), path.parent)
    problems = _check(cfg)
    if problems:
        raise ConfigError(str(path), problems)
    return dataclasses.replace(cfg, source=path)


def sc_cache_roots(home: Path | None = None) -> list[Path]:
    """lambdapdk copies in SiliconCompiler's cache, newest first."""
    cache = Path(home) / ".sc" / "cache" if home else SC_CACHE.expanduser()
    found: list[Path] = []
    for folder in (cache, cache / "dataroot"):
        if folder.is_dir():
            found.extend(p for p in folder.glob("lambdapdk-*") if p.is_dir())
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _no_root_message(cfg: PdkConfig) -> str:
    lib = cfg.lambdapdk.library or cfg.name
    return (
        f"no PDK root for '{cfg.name}': set {PDK_ROOT_ENV} (or 'pdk_root' in the flow) to "
        f"the folder that holds the files the PDK YAML names (e.g. "
        f"{cfg.corners[cfg.default_corner].liberty}). For {lib} that is lambdapdk's data: "
        f"the lambdapdk release archive from {LAMBDAPDK_URL} (Apache-2.0), which "
        f"SiliconCompiler downloads into {SC_CACHE}/ on first use; no complete copy was "
        f"found there"
    )


def find_root(
    cfg: PdkConfig, flow_root: Path | None, env: dict[str, str] | None = None
) -> tuple[Path, str]:
    """The PDK root and where it came from; :class:`ConfigError` when there is none."""
    environ = os.environ if env is None else env
    explicit: list[tuple[Path, str]] = []
    if flow_root is not None:
        explicit.append((flow_root, "flow 'pdk_root'"))
    if environ.get(PDK_ROOT_ENV, "").strip():
        explicit.append((Path(environ[PDK_ROOT_ENV].strip()).expanduser(), f"${PDK_ROOT_ENV}"))
    if explicit:
        root, origin = explicit[0]
        if not root.is_dir():
            raise ConfigError(str(cfg.source), [f"PDK root from {origin} is not a folder: {root}"])
        return root.resolve(), origin
    for cand in sc_cache_roots():
        if not cfg.missing(cand):
            return cand, "SiliconCompiler cache"
    raise ConfigError(str(cfg.source), [_no_root_message(cfg)])


def resolve_pdk(flow: FlowConfig, pnr: bool = False) -> Pdk:
    """The flow's PDK, root and corner, with every referenced file checked (all at once).

    With ``pnr`` also the keys and files place and route needs (see
    :meth:`PdkConfig.pnr_problems`)."""
    cfg, corner, problems = flow_corner(flow)
    if pnr:
        problems.extend(cfg.pnr_problems())
    root: Path | None = None
    origin = ""
    try:
        root, origin = find_root(cfg, flow.pdk_root)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if root is not None:
        missing = cfg.missing(root, pnr=pnr)
        if missing:
            problems.append(f"PDK root {root} (from {origin}) lacks {len(missing)} file(s)")
            problems.extend(missing)
    if problems:
        raise ConfigError(str(cfg.source), problems)
    assert root is not None
    return Pdk(cfg, root, origin, corner)


def pdk_deps(flow: FlowConfig) -> list[Path]:
    """The PDK files a synth/sta result depends on (best effort: [] if not resolvable yet).

    Resolution errors are left for the step itself to report when it runs."""
    try:
        pdk = resolve_pdk(flow)
    except AsicflowError:
        return []
    return [pdk.config.source, pdk.liberty]


def flow_corner(flow: FlowConfig) -> tuple[PdkConfig, str, list[str]]:
    """The flow's PDK configuration, its corner, and the problem with that corner if any."""
    base = flow.source.parent if flow.source.name else Path.cwd()
    cfg = load_pdk(flow.pdk, base, str(flow.source) if flow.source.name else "flow")
    corner = flow.corner or cfg.default_corner
    problems = []
    if corner not in cfg.corners:
        problems.append(
            f"corner {corner!r} (flow 'corner') is not a corner of PDK "
            f"'{cfg.name}'; choose one of {', '.join(sorted(cfg.corners))}"
        )
    return cfg, corner, problems


def corner_delay_model(flow: FlowConfig) -> DelayModelConfig:
    """The calibrated adder delay model of the flow's corner (no PDK root needed)."""
    cfg, corner, problems = flow_corner(flow)
    if not problems and not cfg.corners[corner].delay_model.calibrated:
        problems.append(
            f"'corners.{corner}.delay_model' is not calibrated (rtl.pipeline 'auto' needs "
            f"it): run 'python -m asicflow.rtl.calibrate --pdk {flow.pdk} --corner "
            f"{corner}' and put the block it prints there, or set rtl.pipeline to 'layer'"
        )
    if problems:
        raise ConfigError(str(cfg.source), problems)
    return cfg.corners[corner].delay_model
