"""What an analysis hands to the claims layer: a test's result, which a verdict rule judges."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """A test's result: estimate and 95% CI (several for rules over more than one quantity)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float = float("nan")
    label: str = ""
