"""C1: does magnesium adequacy modify the supplement-25(OH)D association? C2: the dose slope
among magnesium-inadequate adults. Linear survey models of serum 25(OH)D (nmol/L), day-1
dietary weight, domain in_main (see reports/tables/flow.csv)."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import Context, Result, evidence_of, model_table, keyed

WEIGHT = "wt_day1"
OUTCOME = "vitd_serum_nmol"


def effect_modification(ctx: Context, exposure: str, modifier: str, name: str, domain: str = "in_main",
                        weight: str = WEIGHT, outcome: str = OUTCOME,
                        drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """outcome ~ exposure * modifier + covariates (less `drop`), with the exposure's association
    in each modifier group (binary modifier) and the interaction's Wald test."""
    exposures = [exposure, modifier, f"{exposure}:{modifier}"]
    spec = ctx.spec(outcome, exposures, drop=drop)
    fitted = ctx.fit(spec, weight, domain)
    interaction = keyed(fitted.lincom({f"{exposure}:{modifier}": 1}, f"interaction {exposure} x {modifier}"),
                        "interaction", f"{exposure} x {modifier}")
    rows = {"interaction": interaction}
    walds = [fitted.wald([f"{exposure}:{modifier}"], f"wald: {exposure}:{modifier} = 0")]
    if set(ctx.frame.loc[ctx.frame[domain], modifier].dropna().unique()) <= {0, 1, False, True}:
        rows["without"] = keyed(fitted.lincom({exposure: 1}, f"{exposure} effect | {modifier} = 0"),
                                "effect", exposure, f"{modifier} = 0")
        rows["with"] = keyed(fitted.lincom({exposure: 1, f"{exposure}:{modifier}": 1}, f"{exposure} effect | {modifier} = 1"),
                             "effect", exposure, f"{modifier} = 1")
    table = model_table(fitted, name, domain, weight, ctx.covariate_text(spec, exposures),
                        lincoms=list(rows.values()), walds=walds)
    return table, rows


def run_c1(ctx: Context) -> Result:
    use, use_rows = effect_modification(ctx, "vitd_supp_user", "mg_adequate", "use_x_mg_adequacy")
    continuous, _ = effect_modification(ctx, "vitd_supp_user", "mg_total_100", "use_x_mg_per_100mg")
    dose, _ = effect_modification(ctx, "dose10", "mg_adequate", "dose10ug_x_mg_adequacy")
    return Result(
        tables={"interaction_use": pd.concat([use, continuous], ignore_index=True), "interaction_dose": dose},
        evidence=[evidence_of(use_rows["interaction"], "interaction (nmol/L)")],
        test_label="interaction: supplement use x magnesium adequacy (nmol/L)",
    )


def run_c2(ctx: Context) -> Result:
    """Dose slope (per 10 ug/day) among adults below the EAR, and below half the EAR."""
    tables = []
    evidence = None
    for name, condition in [("mg_below_ear", ctx.frame["mg_inadequate"]),
                            ("mg_below_half_ear", ctx.frame["mg_below_half_ear"])]:
        domain = ctx.add_domain(f"in_main_{name}", ctx.frame["in_main"] & condition)
        if ctx.frame[domain].sum() < ctx.params["analyze"]["min_domain_n"]:
            continue
        spec = ctx.spec(OUTCOME, ["dose10"])
        fitted = ctx.fit(spec, WEIGHT, domain)
        slope = keyed(fitted.lincom({"dose10": 1}, f"slope per 10 ug/day | {name}"), "slope", "dose10", name)
        tables.append(model_table(fitted, f"dose_slope_{name}", domain, WEIGHT, ctx.covariate_text(spec, ["dose10"]),
                                  lincoms=[slope]))
        if evidence is None:
            evidence = evidence_of(slope, "slope per 10 ug/day (nmol/L)")
    return Result(tables={"dose_low_mg": pd.concat(tables, ignore_index=True)}, evidence=[evidence],
                  test_label="25(OH)D slope per 10 ug/day among magnesium-inadequate adults (nmol/L)")
