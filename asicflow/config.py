"""The flow configuration (one YAML per design in ``flows/``), declared key by key."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asicflow import schema
from asicflow.convert.names import FLOW_NAME_RULE, flow_name_problem
from asicflow.errors import ConfigError
from asicflow.fixed import FixedType
from asicflow.schema import key, section

FLOWS_ENV = "ASICFLOW_FLOWS"
BUILD_ENV = "ASICFLOW_BUILD"
# System clocks per SCL period the I2C target needs: it sees SCL and SDA through two
# synchronizer flip-flops and drives SDA one clock after it sees SCL fall (3 clocks), and a
# master samples SDA half an SCL period after the fall, so half a period must be >= 5 clocks.
MIN_CLOCKS_PER_SCL = 10


@dataclass(frozen=True)
class DataConfig:
    source: str = key(
        "sklearn_digits",
        "where stimuli come from",
        choices=("sklearn_digits", "synthetic_jets", "synthetic_sensor", "npz"),
    )
    npz: Path | None = key(
        None,
        "with source 'npz': file with array 'x' (and optional labels "
        "'y', optional boolean 'test' mask)",
        must_exist=True,
    )
    count: int = key(1000, "number of stimuli (at most the dataset size)")
    seed: int = key(0, "seed for synthetic datasets")


@dataclass(frozen=True)
class LayerPrecision:
    accum: FixedType | None = key(None, "accumulator type (AC_WRAP)")
    result: FixedType | None = key(None, "type the layer's output is cast to")


@dataclass(frozen=True)
class HlsConfig:
    ac_include: Path | None = key(
        None,
        "folder holding ac_types headers (ac_fixed.h), e.g. a "
        "Catapult install's shared/include; default: the copy "
        "in the hls4ml wheel",
        must_exist=True,
    )
    cxx: str = key("g++", "C++ compiler for csim")
    cxxflags: list[str] = key(["-O2", "-std=c++17"], "C++ compiler flags for csim")
    backend: str = key(
        "native",
        "who turns the network into Verilog in the rtl step: asicflow's native generator, "
        "or an HLS tool run on the same C++ (asicflow/hlstools/)",
        choices=("native", "catapult", "bambu"),
    )
    catapult_path: Path | None = key(
        None, "folder holding the 'catapult' executable (else PATH)", must_exist=True
    )
    catapult_flows: list[str] = key(
        [], "optional Catapult flows to enable: scverify, ccov, cdesignchecker"
    )
    bambu_path: Path | None = key(
        None, "folder holding the 'bambu' executable (else PATH)", must_exist=True
    )
    bambu_compiler: str = key("I386_CLANG16", "Bambu's front-end compiler (--compiler)")


@dataclass(frozen=True)
class RtlConfig:
    generator: str = key("native", "RTL source", choices=("native",))
    weights: str = key(
        "const",
        "weights as constants, or 'ports' = every weight and bias an input: the native RTL's "
        "params_in bus and the HLS C++ top's parameter arrays (for a register file of your "
        "own; options.i2c_weights builds one)",
        choices=("const", "ports"),
    )
    reuse: int = key(
        1,
        "reuse factor of every Dense/Conv layer (HLS C++ and native RTL): 1 = fully "
        "parallel, II 1; R > 1 = 1/R of the multipliers, II R, ready/valid handshake",
    )
    reuse_layers: dict[str, int] = key({}, "per-layer reuse factors {layer: R}, over rtl.reuse")
    pipeline: str | int = key(
        "auto",
        "pipeline registers of the native RTL: 'auto' = as few stages as meet clock_period_ns "
        "on the corner (the PDK's calibrated adder delay model; every layer's outputs "
        "registered), 'layer' = one stage per layer, or N = N stages in every constant-weight "
        "Dense/Conv",
    )


@dataclass(frozen=True)
class SimConfig:
    simulator: str = key(
        "verilator", "RTL simulator for rtl_cosim", choices=("verilator", "icarus")
    )
    gl_vectors: int = key(200, "gl_sim: stimuli run through the gate-level netlist")
    gl_i2c_speed_hz: int = key(
        2_500_000,
        "gl_sim: SCL rate of the I2C weight load at gate level (simulation time; the "
        "target samples SCL with clk, i2c_cosim covers 100/400 kHz at RTL)",
        unit="Hz",
    )


@dataclass(frozen=True)
class SynthConfig:
    abc: str = key(
        "fast",
        "ABC mapping script: 'fast' = Yosys's default without SAT sweeping "
        "(&fraig -x, scorr, dretime), mapped with map -a (faster carry chains "
        "than &nf at the same area), minutes faster on arithmetic-heavy "
        "networks; 'full' = Yosys's default script",
        choices=("fast", "full"),
    )


@dataclass(frozen=True)
class PnrConfig:
    core_utilization: float = key(
        40.0, "core utilization of the floorplan: cell area / core " "area", unit="%"
    )
    aspect_ratio: float = key(1.0, "core height / width of the floorplan")
    core_margin_um: float = key(1.0, "space between the core and the die edge", unit="um")
    place_density: float | None = key(
        None,
        "OpenROAD global placement target density (0..1); "
        "default: the cell library's (0.6 for sky130hd)",
    )
    scheduler: str = key(
        "local",
        "where SiliconCompiler runs the tools: this machine, a Slurm "
        "cluster, or Docker containers",
        choices=("local", "slurm", "docker"),
    )
    queue: str = key(
        "",
        "slurm: the partition; docker: the image (default: SiliconCompiler's "
        "sc_runner image of its version, which holds every tool)",
    )
    tool_paths: dict[str, Path] = key(
        {},
        "folder holding a tool's executable, by "
        "SiliconCompiler tool name: openroad, yosys, opensta "
        "(command 'sta'), klayout; else PATH",
    )
    stop_after: str = key(
        "",
        "last SiliconCompiler step to run (e.g. 'synthesis', "
        "'floorplan.init'); empty: the whole flow to GDS",
    )
    timeout_h: float = key(24.0, "wall-time limit of the whole SiliconCompiler run", unit="h")


@dataclass(frozen=True)
class ChecksConfig:
    coverage_line_min: float = key(
        100.0,
        "ccov_check: least line coverage of the generated C++ "
        "(firmware/ and the hls_src kernels) under the stimuli",
        unit="%",
    )
    coverage_branch_min: float = key(
        100.0,
        "ccov_check: least branch coverage of the same code "
        "(exception and compiler-only branches excluded)",
        unit="%",
    )


@dataclass(frozen=True)
class TmrConfig:
    exclude: list[str] = key(
        [], "registers left single: globs on register names (the RTL reg names, e.g. valid_*)"
    )
    voters: str = key(
        "after",
        "voter placement: 'after' = one majority voter per register bit after the three "
        "replicas; every reader, the register's own feedback included, sees the voted value",
        choices=("after",),
    )
    prove: bool = key(
        True, "tmr: prove the TMR design equivalent to its input (ABC miter + dprove)"
    )
    upsets: int = key(1000, "faults: single-event upsets injected with and without TMR")


@dataclass(frozen=True)
class OptionsConfig:
    tmr: bool = key(False, "triplicate every flip-flop with majority voters (tmr step)")
    i2c_weights: bool = key(
        False,
        "weights and biases in registers loaded over I2C (i2c step): the chip can be "
        "reprogrammed after fabrication",
    )


@dataclass(frozen=True)
class I2cConfig:
    address: int = key(0x50, "7-bit I2C target address (0x08-0x77; 0x00-0x07, 0x78-0x7F reserved)")
    max_weight_bits: int = key(
        16, "widest weight/bias the register map holds; a wider parameter is an error", unit="bit"
    )
    write_chunk: int = key(
        32, "data bytes per I2C write transaction from the programming helper", unit="byte"
    )
    reload_model: Path | None = key(
        None,
        "a second trained model of the same architecture (another training run) that "
        "i2c_cosim loads into the running design after the first",
        must_exist=True,
    )
    speed_hz: int = key(
        400_000,
        "I2C bus speed of i2c_cosim: 400000 (fast-mode) or 100000 (standard-mode)",
        choices=(100_000, 400_000),
    )


@dataclass(frozen=True)
class PtqConfig:
    enabled: bool = key(
        False,
        "post-training quantization: asicflow quantizes the float weights of Dense/Conv layers "
        "that have no QKeras quantizer (round half to even, saturate) and casts their outputs; "
        "the golden model is then the reference, checked against the float Keras model",
    )
    weight_bits: int = key(
        8, "weight width; integer bits per layer: the fewest with no weight saturating", unit="bit"
    )
    weight_type: FixedType | None = key(
        None, "one weight type for every layer instead of weight_bits (width, integer, sign)"
    )
    bias_bits: int = key(
        12, "bias width; integer bits per layer: the fewest with no bias saturating", unit="bit"
    )
    bias_type: FixedType | None = key(None, "one bias type for every layer instead of bias_bits")
    activation_bits: int = key(
        10,
        "width of each quantized layer's output (after its ReLU or linear activation); "
        "integer bits from the float model's range on the flow's data (unsigned after ReLU)",
        unit="bit",
    )
    activation_type: FixedType | None = key(
        None, "one output type for every quantized layer instead of activation_bits"
    )
    layers: dict[str, dict[str, FixedType]] = key(
        {},
        "per-layer types by Keras layer name: {layer: {weight_type, bias_type, "
        "activation_type}}; rounding and overflow modes are always RND_CONV and SAT",
    )
    min_agreement: float = key(
        95.0,
        "golden: least share of stimuli whose golden output argmax equals the float Keras "
        "model's (a single output: the same sign, as a binary classifier's logit)",
        unit="%",
    )


@dataclass(frozen=True)
class SweepConfig:
    reuse: list[int] = key(
        [1, 2, 4, 8],
        "doit sweep:<flow>: reuse factors to implement (env ASICFLOW_SWEEP_REUSE wins)",
    )


@dataclass(frozen=True)
class FlowConfig:
    model: Path = key(doc="trained QKeras model (.h5)", must_exist=True)
    name: str = key("", "flow name (default: the YAML file's name without .yaml)")
    data: DataConfig = section(DataConfig, "stimuli and accuracy data")
    input_type: FixedType | None = key(None, "input type when the model has no input quantizer")
    softmax: str = key(
        "drop", "a trailing softmax is dropped from hardware (logits out)", choices=("drop",)
    )
    precision: dict[str, LayerPrecision] = key(
        {}, "per-layer type overrides {layer: {accum, result}}"
    )
    ptq: PtqConfig = section(PtqConfig, "post-training quantization of float Keras models")
    hls: HlsConfig = section(HlsConfig, "HLS C++ and csim")
    rtl: RtlConfig = section(RtlConfig, "RTL generation")
    sim: SimConfig = section(SimConfig, "RTL co-simulation")
    synth: SynthConfig = section(SynthConfig, "logic synthesis")
    clock_period_ns: float = key(10.0, "target clock period", unit="ns")
    pdk: str = key("sky130hd", "PDK configuration: pdk_configs/<pdk>.yaml, or a path to one")
    pdk_root: Path | None = key(None, f"root of the PDK files (else ${'{'}ASICFLOW_PDK_ROOT{'}'})")
    corner: str = key("tt", "timing corner for synth/sta (a corner of the PDK config)")
    pnr: PnrConfig = section(PnrConfig, "place and route through SiliconCompiler")
    checks: ChecksConfig = section(ChecksConfig, "thresholds of the checker steps")
    sweep: SweepConfig = section(SweepConfig, "design-space sweep (doit sweep:<flow>)")
    options: OptionsConfig = section(OptionsConfig, "design options: TMR, I2C weight loading")
    tmr: TmrConfig = section(TmrConfig, "triple modular redundancy details (options.tmr)")
    i2c: I2cConfig = section(I2cConfig, "I2C weight-loading wrapper details (options.i2c_weights)")

    # Set by the loader, not by users.
    source: Path = dataclasses.field(default=Path(), metadata={"internal": True})

    @property
    def design_steps(self) -> list[str]:
        """The steps that build the RTL, in order: rtl, then i2c and tmr when enabled."""
        return [
            "rtl",
            *(["i2c"] if self.options.i2c_weights else []),
            *(["tmr"] if self.options.tmr else []),
        ]

    @property
    def tmr_source_step(self) -> str:
        """The design step TMR protects: the I2C wrapper when that is on, else rtl."""
        steps = self.design_steps
        return steps[steps.index("tmr") - 1] if "tmr" in steps else "rtl"

    @property
    def rtl_step(self) -> str:
        """The step whose RTL goes to implementation: the last of :attr:`design_steps`."""
        return self.design_steps[-1]

    def get(self, dotted: str) -> Any:
        """A value by dotted key, e.g. ``data.count``."""
        obj: Any = self
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj


def _check(cfg: FlowConfig) -> list[str]:
    problems = []
    if cfg.data.source == "npz" and cfg.data.npz is None:
        problems.append("'data.npz' is required when 'data.source' is 'npz'")
    if cfg.data.count < 1:
        problems.append("'data.count' must be at least 1")
    if cfg.clock_period_ns <= 0:
        problems.append("'clock_period_ns' must be positive")
    if cfg.model.suffix not in (".h5", ".keras", ".hdf5"):
        problems.append(f"'model': expected a .h5 file, got {cfg.model.name}")
    for where, r in [("rtl.reuse", cfg.rtl.reuse)] + [
        (f"rtl.reuse_layers.{k}", v) for k, v in cfg.rtl.reuse_layers.items()
    ]:
        if not 1 <= r <= 1024:
            problems.append(f"'{where}' is {r}: a reuse factor is 1 (fully parallel) to 1024")
    pipe = cfg.rtl.pipeline
    if pipe not in ("auto", "layer") and not (isinstance(pipe, int) and 1 <= pipe <= 64):
        problems.append(
            f"'rtl.pipeline' is {pipe!r}: use 'auto', 'layer' or a number of stages 1 to 64"
        )
    if cfg.sim.gl_vectors < 1:
        problems.append("'sim.gl_vectors' must be at least 1")
    buses = (
        (("sim.gl_i2c_speed_hz", cfg.sim.gl_i2c_speed_hz), ("i2c.speed_hz", cfg.i2c.speed_hz))
        if cfg.options.i2c_weights  # without the I2C target the bus rates are unused
        else ()
    )
    for where, hz in buses:
        if hz < 1 or hz * MIN_CLOCKS_PER_SCL * cfg.clock_period_ns * 1e-9 > 1:
            problems.append(
                f"'{where}' {hz} Hz: the I2C target needs a clock at least "
                f"{MIN_CLOCKS_PER_SCL}x SCL (clock_period_ns {cfg.clock_period_ns} allows up to "
                f"{1e9 / (MIN_CLOCKS_PER_SCL * cfg.clock_period_ns):.0f} Hz)"
            )
    if not 0x08 <= cfg.i2c.address <= 0x77:
        problems.append(
            f"'i2c.address' {cfg.i2c.address:#04x} is not a usable 7-bit I2C address: use "
            "0x08 to 0x77 (0x00-0x07 and 0x78-0x7F are reserved by the I2C specification)"
        )
    if not 1 <= cfg.i2c.max_weight_bits <= 32:
        problems.append("'i2c.max_weight_bits' must be 1 to 32")
    if not 1 <= cfg.i2c.write_chunk <= 256:
        problems.append("'i2c.write_chunk' must be 1 to 256 bytes")
    if cfg.i2c.reload_model is not None and not cfg.options.i2c_weights:
        problems.append("'i2c.reload_model' is set but 'options.i2c_weights' is off")
    ptq = cfg.ptq
    for k, bits in (("weight", ptq.weight_bits), ("bias", ptq.bias_bits)):
        if not 2 <= bits <= 32:
            problems.append(f"'ptq.{k}_bits' is {bits}: use 2 to 32 (the sign bit included)")
    if not 1 <= ptq.activation_bits <= 32:
        problems.append(f"'ptq.activation_bits' is {ptq.activation_bits}: use 1 to 32")
    if not 0.0 <= ptq.min_agreement <= 100.0:
        problems.append("'ptq.min_agreement' is a percentage: 0 to 100")
    ptq_keys = ("weight_type", "bias_type", "activation_type")
    for lname, types_ in ptq.layers.items():
        for k in types_:
            if k not in ptq_keys:
                problems.append(
                    f"'ptq.layers.{lname}.{k}' is not a key; use one of {', '.join(ptq_keys)}"
                )
    if ptq.layers and not ptq.enabled:
        problems.append("'ptq.layers' is set but 'ptq.enabled' is off")
    return problems


def load_flow(path: Path) -> FlowConfig:
    """Read and validate one flow YAML: every problem of the file at once (a key with a wrong
    type is checked no further; the cross-key and range checks run on the others)."""
    path = path.resolve()
    data = schema.read_yaml(path)
    data.pop("source", None)
    cfg, problems, bad = schema.load_partial(FlowConfig, data, path.parent)
    problems += [p for p in _check(cfg) if not any(f"'{k}" in p for k in bad)]
    name = cfg.name or path.stem
    why = flow_name_problem(name)
    if why is not None and "name" not in bad:
        origin = "'name'" if cfg.name else "the file name (the default flow name)"
        problems.append(
            f"{origin} {schema.short(name)} {why}: {FLOW_NAME_RULE}"
            + ("" if cfg.name else "; set 'name:' in the file or rename it")
        )
    if problems:
        raise ConfigError(str(path), problems)
    return dataclasses.replace(cfg, name=name, source=path)


def flow_files(project: Path) -> list[Path]:
    """The flows to run: ``$ASICFLOW_FLOWS`` (paths separated by ':' or ',') or flows/*.yaml."""
    env = os.environ.get(FLOWS_ENV, "").strip()
    if env:
        parts = [p for chunk in env.split(os.pathsep) for p in chunk.split(",") if p.strip()]
        return [Path(p.strip()).resolve() for p in parts]
    return sorted((project / "flows").glob("*.yaml"))


def build_root() -> Path:
    return Path(os.environ.get(BUILD_ENV, "build")).resolve()
