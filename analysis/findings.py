"""One plain paragraph per claim for the report: the verdict, the finding with its size and
CI (from reports/claims.csv), and the caveat that matters most (analysis/findings.yaml).
C1 adds the same interaction on the log scale (reports/tables/interaction_usual.csv): a
ceiling - adults with adequate magnesium starting higher - would shrink an absolute
difference but leave a ratio near 1."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from analysis.config import load_yaml


def _number(value: float) -> str:
    return f"{value:.3g}"


def _ci(row) -> str:
    return f"{_number(row.estimate)} (95% CI {_number(row.ci_low)} to {_number(row.ci_high)})"


def log_scale_interaction(tables: dict[str, pd.DataFrame]) -> str:
    """C1's interaction as a ratio of geometric-mean ratios, with the two groups' ratios."""
    table = tables.get("interaction_usual")
    if table is None or "model" not in table:
        return ""
    rows = table[table["model"] == "use_x_mg_adequacy_usual_log"].set_index("term")
    terms = ["interaction vitd_supp_user x mg_adequate_usual", "vitd_supp_user effect | mg_adequate_usual = 0",
             "vitd_supp_user effect | mg_adequate_usual = 1"]
    if not set(terms) <= set(rows.index):
        return ""
    inter, low, high = (rows.loc[t] for t in terms)
    reading = ("so on the ratio scale too the association is smaller where magnesium is adequate: not only a ceiling"
               if inter.ci_high < 1 else
               "so on the ratio scale the association is larger where magnesium is adequate"
               if inter.ci_low > 1 else
               "so on the ratio scale the two groups cannot be told apart: the data are compatible with a ceiling")
    return (f" On the log scale, supplement users' 25(OH)D is {_ci(low)} times non-users' where usual magnesium is "
            f"inadequate and {_ci(high)} times where it is adequate; the ratio of the two is {_ci(inter)}, {reading}.")


def paragraphs(claims: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> list[dict]:
    """[{claim_id, verdict, text}] in the claims table's order."""
    caveats = load_yaml(resources.files("analysis").joinpath("findings.yaml").read_text(encoding="utf-8"))
    out = []
    for row in claims.itertuples():
        if pd.notna(row.estimate):
            finding = f"The test ({row.test}) gives {_ci(row)}."
        else:
            finding = str(row.reason) if pd.notna(row.reason) else ""
        extra = log_scale_interaction(tables) if row.claim_id == "C1" else ""
        detail = ""
        if pd.notna(row.estimate) and isinstance(row.reason, str) and row.reason:
            reason = row.reason.rstrip(". ")
            detail = f" {reason[0].upper()}{reason[1:]}."
        out.append({"claim_id": row.claim_id, "verdict": row.verdict,
                    "text": f"{finding}{detail}{extra} Caveat: {caveats.get(row.claim_id, '')}"})
    return out
