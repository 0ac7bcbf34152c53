"""NHANES-shaped synthetic analytic tables with known truths, built by the tests themselves.

The design mimics NHANES: 15 strata per cycle with 2 PSUs each (a few with 3), unequal
weights, some zero weights (not examined), domains that leave whole PSUs empty. The serum
25(OH)D model is linear with a planted supplement x magnesium-adequacy interaction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CYCLES = ["2007-2008", "2009-2010", "2011-2012", "2013-2014", "2015-2016", "2017-2018"]


def analytic_table(
    n_per_psu: int = 40,
    cycles: list[str] | None = None,
    seed: int = 20240501,
    interaction: float = 10.0,
    supp_effect: float = 15.0,
    dose_slope_per_10ug: float = 3.0,
    dose_interaction_per_10ug: float = 1.0,
    noise_sd: float = 18.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cycles = cycles or CYCLES[:2]
    parts = []
    stratum = 75
    seqn = 1
    for cycle in cycles:
        for _ in range(15):
            n_psu = 3 if rng.random() < 0.15 else 2
            for psu in range(1, n_psu + 1):
                n = n_per_psu + int(rng.integers(-10, 10))
                psu_shift = rng.normal(0, 4)
                parts.append(pd.DataFrame({
                    "seqn": np.arange(seqn, seqn + n), "cycle": cycle, "sdmvstra": stratum,
                    "sdmvpsu": psu, "psu_shift": psu_shift,
                }))
                seqn += n
            stratum += 1
    frame = pd.concat(parts, ignore_index=True)
    n = len(frame)
    frame["age"] = rng.integers(1, 81, n).astype(float)
    frame["sex"] = pd.array(np.where(rng.random(n) < 0.5, "male", "female"), dtype="string")
    frame["race_eth"] = pd.array(rng.choice(["nh_white", "nh_black", "mexican_american", "other_hispanic", "other"],
                                            n, p=[0.4, 0.22, 0.17, 0.1, 0.11]), dtype="string")
    frame["bmi"] = np.clip(rng.normal(28, 6, n), 14, 70)
    frame["pir"] = np.clip(rng.gamma(2.2, 1.1, n), 0, 5)
    frame["season"] = pd.array(np.where(rng.random(n) < 0.5, "nov_apr", "may_oct"), dtype="string")
    frame["examined"] = rng.random(n) > 0.04
    base_weight = rng.lognormal(9.5, 0.7, n)
    frame["wt_mec"] = np.where(frame["examined"], base_weight, 0.0) / len(cycles)
    frame["recall_day1_reliable"] = frame["examined"] & (rng.random(n) > 0.1)
    frame["wt_day1"] = np.where(frame["recall_day1_reliable"], base_weight * rng.uniform(0.8, 1.25, n), 0.0) / len(cycles)

    frame["mg_ear_mg"] = np.where(frame["sex"] == "male", np.where(frame["age"] >= 31, 350, 330),
                                  np.where(frame["age"] >= 31, 265, 255)).astype(float)
    frame["mg_total_mg"] = rng.lognormal(np.log(300), 0.35, n)
    frame["mg_adequate"] = frame["mg_total_mg"] >= frame["mg_ear_mg"]
    user = rng.random(n) < 0.28
    dose = np.where(user, rng.choice([5.0, 10.0, 25.0, 50.0, 125.0], n, p=[0.2, 0.35, 0.25, 0.15, 0.05]), 0.0)
    frame["vitd_supp_ug"] = dose
    frame["vitd_supp_ug_capped"] = dose
    frame["vitd_supp_user"] = user
    adequate = frame["mg_adequate"].to_numpy(dtype=float)
    frame["kcal"] = rng.normal(2100, 500, n).clip(600, 6000)
    frame["ca_total_mg"] = rng.lognormal(np.log(950), 0.4, n)
    mean = (
        45 + 0.15 * frame["age"] - 0.5 * (frame["bmi"] - 28)
        - 18 * (frame["race_eth"] == "nh_black").to_numpy(dtype=float)
        + 6 * (frame["season"] == "may_oct").to_numpy(dtype=float)
        + 4 * adequate
        + supp_effect * user + interaction * user * adequate
        + dose_slope_per_10ug * dose / 10 + dose_interaction_per_10ug * dose / 10 * adequate
        + frame["psu_shift"]
    )
    frame["true_mean_vitd"] = mean
    frame["vitd_serum_nmol"] = np.clip(mean + rng.normal(0, noise_sd, n), 8, 390)
    # missing 25(OH)D for some, bmi for some: they fall out of the domain, not out of the design
    frame.loc[rng.random(n) < 0.06, "vitd_serum_nmol"] = np.nan
    frame.loc[rng.random(n) < 0.02, "bmi"] = np.nan
    frame["in_adults"] = frame["examined"] & (frame["age"] >= 20)
    frame["in_main"] = (frame["in_adults"] & frame["recall_day1_reliable"] & frame["vitd_serum_nmol"].notna()
                        & frame["bmi"].notna())
    frame["vitd_below_50"] = (frame["vitd_serum_nmol"] < 50).astype("boolean").mask(frame["vitd_serum_nmol"].isna())
    return frame.drop(columns=["psu_shift"])
