"""Executable axioms: check any attribution method against the IG paper's axioms.

>>> report = pathattr.axioms.check(pathattr.saliency, model, x, target=3)
>>> print(report); report.to_dict()["sensitivity"]["status"]
"""

from pathattr.axioms.check import ALL, check, from_captum
from pathattr.axioms.report import CHECKS, AxiomReport, CheckResult
from pathattr.axioms.rewrites import REWRITES, SplitReLU

__all__ = [
    "ALL",
    "CHECKS",
    "REWRITES",
    "AxiomReport",
    "CheckResult",
    "SplitReLU",
    "check",
    "from_captum",
]
