"""C4: osteoporosis in women aged 50+ by joint adequacy of magnesium and vitamin D intake
(both / one / neither meet the EAR). Logistic survey models, day-1 dietary weight (intake is
the exposure), domain in_bone; femoral-neck DXA and, where asked, self-report (OSQ060)."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import OR_SCALE, Context, Result, evidence_of, model_table, keyed, row
from analysis.analyses.interaction import WEIGHT

REFERENCES = {"intake_adequacy": "neither"}


def run(ctx: Context) -> Result:
    tables, evidence = [], []
    outcomes = [("osteoporosis_dxa", "in_bone"),
                ("osteoporosis_told", ctx.add_domain("in_bone_told", ctx.frame["in_bone"] & ctx.frame["osteoporosis_told"].notna()))]
    for outcome, domain in outcomes:
        if ctx.frame[domain].sum() < ctx.params["analyze"]["min_domain_n"]:
            continue
        spec = ctx.spec(outcome, ["intake_adequacy"], "binomial", drop=("sex", "season"), references=REFERENCES)
        fitted = ctx.fit(spec, WEIGHT, domain)
        both = keyed(fitted.lincom({"intake_adequacy_both": 1}, "OR both adequate vs neither"), "effect",
                     "intake_adequacy both vs neither")
        one = keyed(fitted.lincom({"intake_adequacy_one": 1}, "OR one adequate vs neither"), "effect",
                    "intake_adequacy one vs neither")
        tables.append(model_table(fitted, f"{outcome}_by_intake_adequacy", domain, WEIGHT,
                                  ctx.covariate_text(spec, ["intake_adequacy"]), lincoms=[both, one], scale=OR_SCALE))
        if outcome == "osteoporosis_dxa":
            evidence.append(evidence_of(row(tables[-1], f"{outcome}_by_intake_adequacy", "effect",
                                            "intake_adequacy both vs neither"), "odds ratio"))
    return Result(tables={"bone_or": pd.concat(tables, ignore_index=True)}, evidence=evidence,
                  test_label="odds ratio of femoral-neck osteoporosis, both adequate vs neither (women 50+)")
