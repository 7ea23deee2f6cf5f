"""asicflow: QKeras networks to verified RTL and sky130 netlists."""

__version__ = "0.1.0"
