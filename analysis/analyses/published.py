"""Published NHANES figures beside the pipeline's estimate of them: the strongest check that
files, codes, weights and design are handled as NCHS and its authors handle them.

Each check (analysis/analyses/published_checks.yaml: reference data with its sources, not a setting) names the cycles, ages, sex, measure and weight of
the publication; the estimate is a design-based proportion (logit CI) in that domain of the full
design, with the weight re-pooled over the check's cycles. It agrees when it lies within the
published SE of the published value (within half its last digit where no SE was published).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from analysis.analyses.common import Context
from analysis.core.config import load_yaml

COLUMNS = ["source", "figure", "cycles", "measure", "weight", "estimate", "std_error", "ci_low", "ci_high", "n",
           "published", "published_se", "n_published", "difference", "tolerance", "agrees", "note"]


def domain_of(ctx: Context, check: dict, weight: str, name: str) -> str:
    f = ctx.frame
    low, high = check["ages"]
    inside = (f["cycle"].isin(check["cycles"]) & f["age"].between(low, high) & f[check["measure"]].notna()
              & (f[weight] > 0))
    if check.get("sex"):
        inside &= f["sex"] == check["sex"]
    for column in check.get("measured", []):  # e.g. a measured BMI
        inside &= f[column].notna()
    for column in check.get("excluding", []):  # e.g. pregnant
        inside &= ~f[column].fillna(False).astype(bool)
    return ctx.add_domain(name, inside)


def tolerance(check: dict) -> float:
    """The published SE, or half the last published digit where no SE was published."""
    return float(check["published_se"]) if check.get("published_se") is not None else float(check["rounding"]) / 2


def one(ctx: Context, check: dict, number: int, available: set[str]) -> dict:
    row = {"source": check["source"], "figure": check["figure"], "cycles": ", ".join(check["cycles"]),
           "measure": check["measure"], "weight": check["weight"], "published": check["published"],
           "published_se": check.get("published_se"), "n_published": check.get("n_published"),
           "tolerance": tolerance(check)}
    lacking = [c for c in check.get("needs", []) if c not in available]
    if lacking:
        return row | {"estimate": np.nan, "n": 0, "agrees": pd.NA,
                      "note": f"not computable: missing NHANES file(s): {', '.join(lacking)}"}
    weight = ctx.cycle_weight(check["weight"], list(check["cycles"]), f"{check['weight']}_published_{number}")
    domain = domain_of(ctx, check, weight, f"in_published_{number}")
    if not ctx.frame[domain].any():
        return row | {"estimate": np.nan, "n": 0, "agrees": pd.NA, "note": "not computable: no participant in the domain"}
    estimate = ctx.survey.proportion(check["measure"], weight, domain).iloc[0]
    difference = float(estimate["estimate"]) - float(check["published"])
    agrees = abs(difference) <= row["tolerance"] + 1e-12
    within = "the published SE" if check.get("published_se") is not None else "the published rounding"
    verdict = f"agrees: within {within}" if agrees else f"differs by more than {within}"
    return row | {"estimate": estimate["estimate"], "std_error": estimate["std_error"], "ci_low": estimate["ci_low"],
                  "ci_high": estimate["ci_high"], "n": int(estimate["n"]), "difference": difference, "agrees": agrees,
                  "note": f"{verdict}; {check['note']}"}


def load_checks() -> list[dict]:
    """The published figures to recompute (analysis/analyses/published_checks.yaml)."""
    text = resources.files("analysis.analyses").joinpath("published_checks.yaml").read_text(encoding="utf-8")
    return list(load_yaml(text)["published_checks"])


def run(ctx: Context, available: set[str]) -> pd.DataFrame:
    """`available`: the components present in at least one cycle at hand."""
    rows = [one(ctx, check, number, available) for number, check in enumerate(load_checks())]
    return pd.DataFrame(rows, columns=COLUMNS)
