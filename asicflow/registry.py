"""The flow's steps, in order. Importing this must stay cheap (no TensorFlow, no cocotb)."""

from __future__ import annotations

from asicflow.steps.base import Step
from asicflow.steps.ccov import CcovCheckStep, CcovStep
from asicflow.steps.convert import ConvertStep
from asicflow.steps.cosim import CosimStep
from asicflow.steps.csim import CsimStep
from asicflow.steps.design_check import DesignCheckStep
from asicflow.steps.faults import FaultsStep
from asicflow.steps.gl_sim import GlSimStep
from asicflow.steps.golden import GoldenStep
from asicflow.steps.hls import HlsStep
from asicflow.steps.i2c import I2cStep
from asicflow.steps.i2c_cosim import I2cCosimStep
from asicflow.steps.overhead import OverheadStep
from asicflow.steps.pnr import PnrStep
from asicflow.steps.power import PowerStep
from asicflow.steps.report import ReportStep
from asicflow.steps.rtl import RtlStep
from asicflow.steps.sta import StaStep
from asicflow.steps.synth import SynthStep
from asicflow.steps.tmr import TmrStep

STEPS: list[Step] = [
    ConvertStep(),
    GoldenStep(),
    HlsStep(),
    CsimStep(),
    CcovStep(),
    CcovCheckStep(),
    DesignCheckStep(),
    RtlStep(),
    I2cStep(),
    TmrStep(),
    CosimStep(),
    I2cCosimStep(),
    FaultsStep(),
    SynthStep(),
    StaStep(),
    PowerStep(),
    GlSimStep(),
    OverheadStep(),
    PnrStep(),
    ReportStep(),
]
BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}
