"""C5: a high total calcium : magnesium intake ratio (> params analyze.high_ca_mg_ratio), and
low 25(OH)D. Logistic model of 25(OH)D < 50 nmol/L on high ratio x magnesium adequacy; linear
models of 25(OH)D with the ratio modifying the supplement and the magnesium associations."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import OR_SCALE, Context, Result, evidence_of, model_table, keyed, row
from analysis.analyses.interaction import WEIGHT, effect_modification


DOMAIN = "in_main_ratio"


def run(ctx: Context) -> Result:
    """On in_main less the adults whose day-1 calcium and magnesium were both 0 (no ratio;
    counted in reports/tables/data_rules.csv as zero_ca_and_mg)."""
    ctx.add_domain(DOMAIN, ctx.frame["in_main"] & ctx.frame["high_ca_mg_ratio"].notna())
    exposures = ["high_ca_mg_ratio", "mg_adequate", "high_ca_mg_ratio:mg_adequate"]
    spec = ctx.spec("vitd_below_50", exposures, "binomial", drop=("ca_total_mg",))
    fitted = ctx.fit(spec, WEIGHT, DOMAIN)
    low_mg = keyed(fitted.lincom({"high_ca_mg_ratio": 1}, "OR high Ca:Mg | mg_adequate = 0"), "effect",
                   "high_ca_mg_ratio", "mg_adequate = 0")
    adequate = keyed(fitted.lincom({"high_ca_mg_ratio": 1, "high_ca_mg_ratio:mg_adequate": 1},
                                   "OR high Ca:Mg | mg_adequate = 1"), "effect", "high_ca_mg_ratio", "mg_adequate = 1")
    wald = fitted.wald(["high_ca_mg_ratio:mg_adequate"], "wald: high_ca_mg_ratio:mg_adequate = 0")
    logistic = model_table(fitted, "vitd_below_50_by_high_ca_mg_x_mg_adequacy", DOMAIN, WEIGHT,
                           ctx.covariate_text(spec, exposures), lincoms=[low_mg, adequate], walds=[wald], scale=OR_SCALE)
    use, _ = effect_modification(ctx, "vitd_supp_user", "high_ca_mg_ratio", "use_x_high_ca_mg", domain=DOMAIN)
    magnesium, _ = effect_modification(ctx, "mg_total_100", "high_ca_mg_ratio", "mg_per_100mg_x_high_ca_mg", domain=DOMAIN)
    return Result(tables={"ca_mg_ratio": pd.concat([logistic, use, magnesium], ignore_index=True)},
                  evidence=[evidence_of(row(logistic, "vitd_below_50_by_high_ca_mg_x_mg_adequacy", "effect", "high_ca_mg_ratio", "mg_adequate = 0"), "odds ratio")],
                  test_label="odds ratio of 25(OH)D < 50 nmol/L, Ca:Mg > 2.8 vs not, magnesium-inadequate adults")
