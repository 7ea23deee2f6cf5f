"""Nightly regression: a declared matrix of flows x overrides, each point in its own build root,
checked bit for bit at every level and for timing, its PPA metrics diffed against a committed
baseline (``asicflow regress MATRIX.yaml``; see README "Nightly regression").

Modules: :mod:`.matrix` (the matrix file), :mod:`.points` (expansion and derived flow files),
:mod:`.slurm` (the Slurm driver), :mod:`.execute` (running points locally or on Slurm),
:mod:`.checks` (per-point checks and metrics), :mod:`.baseline` (the metric policy and the
diff), :mod:`.outputs` (JUnit XML, CSV, summary and trend plot), :mod:`.command` (the
``regress`` command).
"""
