"""Native Verilog generation from the IR (see :mod:`asicflow.rtl.generator`)."""

from asicflow.rtl.generator import VERILOG_FILE, RtlDesign, generate

__all__ = ["VERILOG_FILE", "RtlDesign", "generate"]
