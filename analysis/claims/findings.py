"""One plain paragraph per claim for the report: the verdict, the finding with its size and
CI (from reports/claims.csv), and the caveat that matters most (analysis/claims/findings.yaml).
C1 adds the same interaction on the log scale (reports/tables/interaction_usual.csv): a
ceiling - adults with adequate magnesium starting higher - would shrink an absolute
difference but leave a ratio near 1. C11 adds the proportional-hazards check of its own
test (reports/tables/mortality.csv): a hazard ratio that changes over follow-up would make
one ratio a poor summary."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from analysis.core.config import load_yaml


def _number(value: float) -> str:
    return f"{value:.3g}"


def _ci(row) -> str:
    return f"{_number(row.estimate)} (95% CI {_number(row.ci_low)} to {_number(row.ci_high)})"


def log_scale_interaction(tables: dict[str, pd.DataFrame]) -> str:
    """C1's interaction as a ratio of geometric-mean ratios, with the two groups' ratios."""
    table = tables.get("interaction_usual")
    if table is None or "model" not in table:
        return ""
    if "quantity" not in table:
        return ""
    rows = table[table["model"] == "use_x_mg_adequacy_usual_log"].set_index(["quantity", "contrast", "group"])
    keys = [("interaction", "vitd_supp_user x mg_adequate_usual", "all"),
            ("effect", "vitd_supp_user", "mg_adequate_usual = 0"), ("effect", "vitd_supp_user", "mg_adequate_usual = 1")]
    if not set(keys) <= set(rows.index):
        return ""
    inter, low, high = (rows.loc[k] for k in keys)
    reading = ("so on the ratio scale too the association is smaller where magnesium is adequate: not only a ceiling"
               if inter.ci_high < 1 else
               "so on the ratio scale the association is larger where magnesium is adequate"
               if inter.ci_low > 1 else
               "so on the ratio scale the two groups cannot be told apart: the data are compatible with a ceiling")
    return (f" On the log scale, supplement users' 25(OH)D is {_ci(low)} times non-users' where usual magnesium is "
            f"inadequate and {_ci(high)} times where it is adequate; the ratio of the two is {_ci(inter)}, {reading}.")


# C11's check: the test's contrast, later vs earlier follow-up (usual magnesium, else one day's),
# as (model, contrast) keys
PH_CHECK_ROWS = {"cardiovascular death": [("died_cvd_by_mg_x_vitd_usual_ph_check", "both adequate vs neither:late"),
                                          ("died_cvd_by_joint_day1_ph_check", "both_adequate_day1:late")],
                 "death from any cause": [("died_by_mg_x_vitd_usual_ph_check", "both adequate vs neither:late"),
                                          ("died_by_joint_day1_ph_check", "both_adequate_day1:late")]}


def proportional_hazards(tables: dict[str, pd.DataFrame], split_months: float) -> str:
    """C11's proportional-hazards check in words: the 'both adequate vs neither' hazard ratio of
    the later follow-up period relative to the earlier, per outcome."""
    table = tables.get("mortality")
    if table is None or "contrast" not in table:
        return ""
    rows = table.set_index(["model", "contrast"])
    parts, departs = [], []
    for outcome, candidates in PH_CHECK_ROWS.items():
        found = next((rows.loc[key] for key in candidates if key in rows.index), None)
        if found is not None:
            parts.append(f"{_ci(found)} for {outcome}")
            departs.append(found.ci_low > 1 or found.ci_high < 1)
    if not parts:
        return ""
    reading = ("a departure from proportional hazards: the one hazard ratio averages over a ratio that changes"
               if any(departs) else "no departure from proportional hazards is detected")
    return (f" Proportional hazards (follow-up split at {split_months:g} months): the 'both adequate vs neither' "
            f"hazard ratio after the split relative to before is {' and '.join(parts)}; {reading}.")


def paragraphs(claims: pd.DataFrame, tables: dict[str, pd.DataFrame], ph_split_months: float) -> list[dict]:
    """[{claim_id, verdict, text}] in the claims table's order (`ph_split_months`: params
    analyze.mortality.ph_split_months, where C11's check splits follow-up)."""
    caveats = load_yaml(resources.files("analysis.claims").joinpath("findings.yaml").read_text(encoding="utf-8"))
    out = []
    for row in claims.itertuples():
        if pd.notna(row.estimate):
            finding = f"The test ({row.test}) gives {_ci(row)}."
        else:
            finding = str(row.reason) if pd.notna(row.reason) else ""
        extra = log_scale_interaction(tables) if row.claim_id == "C1" else \
            proportional_hazards(tables, ph_split_months) if row.claim_id == "C11" else ""
        detail = ""
        if pd.notna(row.estimate) and isinstance(row.reason, str) and row.reason:
            reason = row.reason.rstrip(". ")
            detail = f" {reason[0].upper()}{reason[1:]}."
        out.append({"claim_id": row.claim_id, "verdict": row.verdict,
                    "text": f"{finding}{detail}{extra} Caveat: {caveats.get(row.claim_id, '')}"})
    return out
