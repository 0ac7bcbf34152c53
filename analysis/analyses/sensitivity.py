"""Sensitivity of the main interaction (supplement use x magnesium adequacy on 25(OH)D) to
the analysis's choices: usual intake (two recalls), outcome scale, supplement instrument,
energy adjustment, extreme doses, and the survey weights themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.common import Context
from analysis.analyses.interaction import effect_modification


def energy_adjusted_adequacy(ctx: Context) -> None:
    """Residual method: magnesium regressed on energy (weighted least squares in the main
    domain); adjusted intake = residual + prediction at the weighted mean energy."""
    f = ctx.frame
    inside = f["in_main"]
    x, y, w = f.loc[inside, "kcal"].to_numpy(), f.loc[inside, "mg_total_mg"].to_numpy(), f.loc[inside, "wt_day1"].to_numpy()
    design = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(design * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    mean_kcal = np.average(x, weights=w)
    adjusted = f["mg_total_mg"] - (beta[0] + beta[1] * f["kcal"]) + (beta[0] + beta[1] * mean_kcal)
    f["mg_energy_adj_adequate"] = (adjusted >= f["mg_ear_mg"]).astype("boolean").mask(adjusted.isna())


def run(ctx: Context) -> dict[str, pd.DataFrame]:
    f = ctx.frame
    energy_adjusted_adequacy(ctx)
    max_dose = ctx.params["analyze"]["sensitivity_max_dose_ug"]
    variants = [
        ("main", "vitd_supp_user", "mg_adequate", "in_main", "wt_day1", "vitd_serum_nmol"),
        ("two_day_mean_mg", "vitd_supp_user", "mg_2day_adequate", "in_two_day", "wt_day2", "vitd_serum_nmol"),
        ("log_25ohd", "vitd_supp_user", "mg_adequate", "in_main", "wt_day1", "vitd_log"),
        ("supplements_30_day", "vitd_supp_user_30d", "mg_adequate",
         ctx.add_domain("in_main_30d", f["in_main"] & f["vitd_supp_user_30d"].notna()), "wt_day1", "vitd_serum_nmol"),
        ("energy_adjusted_mg", "vitd_supp_user", "mg_energy_adj_adequate", "in_main", "wt_day1", "vitd_serum_nmol"),
        (f"doses_up_to_{max_dose:g}ug", "vitd_supp_user", "mg_adequate",
         ctx.add_domain("in_main_dose_cap", f["in_main"] & (f["vitd_supp_ug"] <= max_dose)), "wt_day1", "vitd_serum_nmol"),
        ("unweighted", "vitd_supp_user", "mg_adequate", "in_main", "all_weight_1", "vitd_serum_nmol"),
    ]
    rows = []
    for name, exposure, modifier, domain, weight, outcome in variants:
        if ctx.frame[domain].sum() < ctx.params["analyze"]["min_domain_n"]:
            continue
        table, _ = effect_modification(ctx, exposure, modifier, f"sensitivity_{name}", domain, weight, outcome)
        keep = table[table["quantity"].isin(["effect", "interaction"])].copy()
        keep.insert(1, "analysis", name)
        rows.append(keep)
    return {"sensitivity": pd.concat(rows, ignore_index=True)}
