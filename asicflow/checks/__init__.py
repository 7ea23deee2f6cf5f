"""Static design checks of the HLS C++: analyzer drivers (cppcheck, clang-tidy), asicflow's own
HLS rules over cppcheck's parse, and the no-overflow range proof from the IR.

Every finding is a :class:`~asicflow.checks.findings.Finding` filed under one HLS rule of
:data:`~asicflow.checks.findings.RULES`, which also records which tool enforces the rule.
"""

from asicflow.checks.findings import RULES, Finding, classify

__all__ = ["RULES", "Finding", "classify"]
