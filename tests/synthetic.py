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


# Nutrients of the usual-intake generator: log-scale mean, between- and within-person SD.
USUAL_NUTRIENTS = {"kcal": (7.6, 0.25, 0.35), "mg": (5.55, 0.32, 0.40), "ca": (6.75, 0.42, 0.47),
                   "vitd": (1.45, 0.61, 0.69)}
BETWEEN_CORRELATION = 0.6
WITHIN_CORRELATION = 0.8


def usual_intake_table(n_per_psu: int = 40, cycles: list[str] | None = None, seed: int = 7, interaction: float = 10.0,
                       supp_effect: float = 15.0, mg_effect: float = 4.0, two_recall_share: float = 0.85,
                       noise_sd: float = 15.0) -> pd.DataFrame:
    """An analytic table whose participants have a known *usual* intake of energy, magnesium,
    calcium and vitamin D, and one or two 24-hour recalls around it.

    On the log scale, recall_ij = mu_i + u_i + e_ij (u: lasting deviation, e: the day's; both
    normal, correlated across nutrients), so usual intake is exp(mu_i + u_i + sd_e^2 / 2).
    Serum 25(OH)D depends on supplement use x usual magnesium adequacy (food + supplements >=
    EAR) with the planted `interaction`. `true_mg_food_usual_mg`, `true_mg_adequate` hold the truth.
    """
    frame = analytic_table(n_per_psu=n_per_psu, cycles=cycles, seed=seed, interaction=0.0, supp_effect=0.0,
                           dose_slope_per_10ug=0.0, dose_interaction_per_10ug=0.0)
    rng = np.random.default_rng(seed + 1)
    n = len(frame)
    names = list(USUAL_NUTRIENTS)
    k = len(names)

    def correlated(rho: float, sds: list[float]) -> np.ndarray:
        corr = np.full((k, k), rho) + np.eye(k) * (1 - rho)
        return rng.multivariate_normal(np.zeros(k), corr * np.outer(sds, sds), size=n)

    male = (frame["sex"] == "male").to_numpy(dtype=float)
    user = frame["vitd_supp_user"].to_numpy(dtype=float)
    mean = np.column_stack([USUAL_NUTRIENTS[m][0] + 0.22 * male + 0.06 * user - 0.002 * (frame["age"] - 45)
                            for m in names])
    between = correlated(BETWEEN_CORRELATION, [USUAL_NUTRIENTS[m][1] for m in names])
    within_sd = np.array([USUAL_NUTRIENTS[m][2] for m in names])
    day1 = np.exp(mean + between + correlated(WITHIN_CORRELATION, list(within_sd)))
    day2 = np.exp(mean + between + correlated(WITHIN_CORRELATION, list(within_sd)))
    usual = np.exp(mean + between + within_sd**2 / 2)
    has_day2 = rng.random(n) < two_recall_share
    columns = {"kcal": ("kcal", "kcal_day2"), "mg": ("mg_food_mg", "mg_food_day2_mg"),
               "ca": ("ca_food_mg", "ca_food_day2_mg"), "vitd": ("vitd_food_ug", "vitd_food_day2_ug")}
    reliable = frame["recall_day1_reliable"].to_numpy()
    for j, name in enumerate(names):
        first, second = columns[name]
        frame[first] = np.where(reliable, np.round(day1[:, j], 1), np.nan)
        frame[second] = np.where(reliable & has_day2, np.round(day2[:, j], 1), np.nan)
    frame["true_mg_food_usual_mg"] = usual[:, 1]
    frame["wt_day2"] = np.where(reliable & has_day2, frame["wt_day1"] * rng.uniform(0.8, 1.25, n) / has_day2.mean(), 0.0)
    supp_mg = np.where(rng.random(n) < 0.15, rng.choice([50.0, 100.0, 250.0], n), 0.0)
    frame["mg_supp_usual_mg"] = supp_mg
    frame["ca_supp_usual_mg"] = np.where(rng.random(n) < 0.2, 500.0, 0.0)
    # the 30-day questionnaire: the day-1 dose for most users, a different one for some
    frame["vitd_supp_usual_ug"] = np.where(rng.random(n) < 0.8, frame["vitd_supp_ug"], frame["vitd_supp_ug"] * 0.5)
    frame["recall_day1_weekend"] = pd.array([pd.NA] * n, dtype="boolean")
    frame["recall_day2_weekend"] = pd.array([pd.NA] * n, dtype="boolean")
    frame["mg_total_mg"] = frame["mg_food_mg"] + supp_mg
    frame["mg_adequate"] = (frame["mg_total_mg"] >= frame["mg_ear_mg"]).astype("boolean").mask(frame["mg_total_mg"].isna())
    both = frame["mg_food_day2_mg"].notna()
    frame["mg_total_2day_mg"] = ((frame["mg_food_mg"] + frame["mg_food_day2_mg"]) / 2 + supp_mg).where(both)
    frame["mg_food_2day_mg"] = ((frame["mg_food_mg"] + frame["mg_food_day2_mg"]) / 2).where(both)
    true_adequate = (usual[:, 1] + supp_mg >= frame["mg_ear_mg"].to_numpy()).astype(float)
    frame["true_mg_adequate"] = true_adequate
    frame["ca_total_mg"] = frame["ca_food_mg"] + frame["ca_supp_usual_mg"]
    frame["vitd_serum_nmol"] = np.where(frame["vitd_serum_nmol"].notna(),
                                        frame["true_mean_vitd"] + mg_effect * true_adequate + supp_effect * user
                                        + interaction * user * true_adequate + rng.normal(0, noise_sd, n), np.nan)
    frame["vitd_serum_nmol"] = frame["vitd_serum_nmol"].clip(lower=5)
    frame["vitd_below_50"] = (frame["vitd_serum_nmol"] < 50).astype("boolean").mask(frame["vitd_serum_nmol"].isna())
    frame["vitd_below_30"] = (frame["vitd_serum_nmol"] < 30).astype("boolean").mask(frame["vitd_serum_nmol"].isna())
    frame["in_main"] = frame["in_adults"] & frame["recall_day1_reliable"] & frame["vitd_serum_nmol"].notna() & \
        frame["bmi"].notna()
    frame["in_bone"] = False
    frame["dose10"] = frame["vitd_supp_ug_capped"] / 10
    frame["age_group"] = pd.cut(frame["age"], [0, 19, 39, 59, 200], labels=["<20", "20-39", "40-59", "60+"]).astype("string")
    frame["education"] = "hs_ged"
    frame["smoking"] = "never"
    frame["pir"] = frame["pir"].fillna(2.0)
    return frame


def calcification_table(log_or_inadequate: float, log_or_adequate: float, n_per_psu: int = 60,
                        cycles: list[str] | None = None, seed: int = 5) -> pd.DataFrame:
    """usual_intake_table with aortic calcification scored for adults 40+: severe AAC (AAC-24 > 6)
    has log-odds rising by `log_or_inadequate` per 10 ug/day of supplemental vitamin D where
    usual magnesium is truly inadequate, by `log_or_adequate` where it is adequate."""
    frame = usual_intake_table(n_per_psu=n_per_psu, cycles=cycles or CYCLES[:4], seed=seed, interaction=0.0)
    rng = np.random.default_rng(seed + 2)
    n = len(frame)
    adequate = frame["true_mg_adequate"].to_numpy()
    dose10 = frame["dose10"].to_numpy()
    slope = np.where(adequate == 1, log_or_adequate, log_or_inadequate)
    logit = -2.6 + 0.05 * (frame["age"].to_numpy() - 60) + slope * dose10
    severe = rng.random(n) < 1 / (1 + np.exp(-logit))
    score = np.where(severe, 7 + rng.poisson(3, n), rng.binomial(6, 0.15, n)).clip(0, 24).astype(float)
    older = frame["in_adults"].to_numpy() & (frame["age"].to_numpy() >= 40) & frame["recall_day1_reliable"].to_numpy()
    frame["aac24_score"] = np.where(older, score, np.nan)
    frame["aac_severe"] = (frame["aac24_score"] > 6).astype("boolean").mask(frame["aac24_score"].isna())
    frame["aac_any"] = (frame["aac24_score"] > 0).astype("boolean").mask(frame["aac24_score"].isna())
    frame["in_aac"] = older & frame["bmi"].notna().to_numpy()
    frame["smoking"] = pd.array(rng.choice(["never", "former", "current"], n, p=[0.55, 0.25, 0.2]), dtype="string")
    bands = pd.cut(frame["vitd_supp_ug"], [0.001, 20, 50.001, 1e9], right=False, labels=["<20", "20-50", ">50"])
    frame["dose_band"] = bands.astype("string")
    return frame


def mortality_table(log_hr_mg: float, n_per_psu: int = 60, cycles: list[str] | None = None, seed: int = 9,
                    cvd_rate_per_year: float = 0.012, other_rate_per_year: float = 0.008) -> pd.DataFrame:
    """usual_intake_table with linked mortality: cause-specific hazards (exponential, monthly
    follow-up, administrative censoring) where the cardiovascular hazard is multiplied by
    exp(log_hr_mg) for a truly adequate usual magnesium intake (and rises with age); deaths of
    other causes do not depend on magnesium."""
    frame = usual_intake_table(n_per_psu=n_per_psu, cycles=cycles or CYCLES[:4], seed=seed, interaction=0.0)
    rng = np.random.default_rng(seed + 3)
    n = len(frame)
    age = frame["age"].to_numpy()
    cvd = cvd_rate_per_year / 12 * np.exp(log_hr_mg * frame["true_mg_adequate"].to_numpy() + 0.06 * (age - 50))
    other = other_rate_per_year / 12 * np.exp(0.05 * (age - 50))
    t_cvd, t_other = rng.exponential(1 / cvd), rng.exponential(1 / other)
    censor = rng.integers(12, 160, n).astype(float)
    end = np.minimum(np.minimum(t_cvd, t_other), censor)
    adult = frame["in_adults"].to_numpy()
    frame["followup_exam_months"] = np.where(adult, np.floor(end), np.nan)
    frame["died"] = pd.array(np.where(adult, end < censor, pd.NA), dtype="boolean")
    frame["died_cvd"] = pd.array(np.where(adult, (t_cvd <= np.minimum(t_other, censor)), pd.NA), dtype="boolean")
    frame["died_heart"] = frame["died_cvd"]
    frame["mg_supp_user"] = frame["mg_supp_usual_mg"] > 0
    frame["in_supp"] = frame["in_main"]
    frame["in_mort"] = frame["in_main"]
    return frame
