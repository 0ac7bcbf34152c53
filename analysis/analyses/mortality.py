"""C11: cardiovascular and all-cause mortality (NCHS linked mortality files, deaths to 31 December
2019) by serum 25(OH)D, usual magnesium adequacy, and the two together.

Design-based Cox models, time in months from the MEC exam (PERMTH_EXM), Breslow ties; a death
of another cause is censored in the cardiovascular models (cause-specific hazards).
- 25(OH)D (per params analyze.mortality.vitd_unit_nmol; and below vs at least the threshold):
  laboratory measure only, so the MEC weight, domain in_mort, covariates params model.covariates;
  Taylor linearization. Proportional hazards checked by splitting follow-up at
  ph_split_months and testing exposure x later follow-up.
- Usual magnesium adequacy (regression calibration: the probability that usual intake meets the
  EAR) alone, and with 25(OH)D adequacy and their interaction, from which "both adequate vs
  neither" is the claim's test: the day-1 dietary weight, domain in_mort_diet, covariates
  model.covariates and usual energy; both steps rerun on every replicate (analyses/calibrated.py).
  One day's magnesium intake in the same models is the sensitivity analysis.
- Users of both vitamin D and magnesium supplements (day-1 24-hour supplement recall) vs users
  of neither: self-selected, so confounded by everything that makes people take supplements.
- Weighted survival by joint category (fractional weights: each person counts in "both" with
  the probability that their usual magnesium intake is adequate), SEs from the same replicates
  rerunning both steps: the figure's table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


from analysis.analyses.calibrated import CalibratedModel, CalibratedStatistic, Quantity, combination
from analysis.analyses.common import HR_SCALE, Context, Result, evidence_of, model_table, keyed, row
from analysis.survey import replicates as engine
from analysis.survey.intervals import interval
from analysis.survey.design import SurveyData

TIME = "followup_exam_months"
DOMAIN = "in_mort"
OUTCOMES = {"died_cvd": "cardiovascular death", "died": "death from any cause",
            "died_heart": "heart-disease death (001 only, the same definition in every cycle)"}
CALIBRATED_OUTCOMES = ["died_cvd", "died", "died_heart"]
JOINT_TERMS = ["mg_adequate_usual", "vitd_adequate", "mg_adequate_usual:vitd_adequate"]
DAY1_TERMS = ["mg_adequate_day1", "vitd_adequate", "mg_adequate_day1:vitd_adequate"]
SUPPLEMENT_TERMS = ["supp_vitd_and_mg", "supp_vitd_only", "supp_mg_only"]
JOINT_DAY1 = ["both_adequate_day1", "mg_only_day1", "vitd_only_day1"]  # reference: neither
BOTH = "both adequate vs neither"
PH_CHECKED = ("died_cvd", "died")  # outcomes whose proportional hazards are checked
PH_TABLE = "mortality_ph_check"  # the calibrated checks' table, before their ':late' rows join mortality.csv
SELF_SELECTED = ("self-selected supplement use (day-1 24-hour supplement recall): confounded by whatever makes "
                 "people take supplements")


def settings(ctx: Context) -> dict:
    return ctx.params["analyze"]["mortality"]


def vitd_per_unit(ctx: Context) -> str:
    return f"vitd_serum_per{settings(ctx)['vitd_unit_nmol']:g}"


def prepare(ctx: Context) -> None:
    """The exposures (numbers, so that the calibrated probabilities can replace them) and domains."""
    f = ctx.frame
    s = settings(ctx)
    vitd = f["vitd_serum_nmol"]
    f[vitd_per_unit(ctx)] = vitd / s["vitd_unit_nmol"]
    f["vitd_adequate"] = (vitd >= s["vitd_adequate_nmol"]).astype(float).where(vitd.notna())
    f["vitd_low"] = 1 - f["vitd_adequate"]
    f["mg_adequate_day1"] = f["mg_adequate"].astype("Float64").astype(float)
    for name, mg, vd in [("both_adequate_day1", 1, 1), ("mg_only_day1", 1, 0), ("vitd_only_day1", 0, 1)]:
        f[name] = ((f["mg_adequate_day1"] == mg) & (f["vitd_adequate"] == vd)).astype(float).where(
            f["mg_adequate_day1"].notna() & f["vitd_adequate"].notna())
    vitd_user = f["vitd_supp_user"].fillna(False).astype(bool)
    mg_user = f["mg_supp_user"].fillna(False).astype(bool)
    f["supp_vitd_and_mg"] = (vitd_user & mg_user).astype(float)
    f["supp_vitd_only"] = (vitd_user & ~mg_user).astype(float)
    f["supp_mg_only"] = (~vitd_user & mg_user).astype(float)
    inside = f[DOMAIN] & f["in_main"]
    if "in_usual_calibration" in f:
        inside = inside & f["in_usual_calibration"].fillna(False).astype(bool)
    ctx.add_domain("in_mort_diet", inside)
    ctx.add_domain("in_mort_supp", f[DOMAIN] & f["in_supp"])


def serum_covariates(ctx: Context, domain: str) -> list[str]:
    return ctx.covariates_for(domain, list(ctx.params["model"]["covariates"]))


def diet_covariates(ctx: Context, domain: str, usual: bool) -> list[str]:
    energy = ctx.params["usual_intake"]["calibrated_diet_covariates"][0] if usual else ctx.params["model"]["diet_covariates"][0]
    return serum_covariates(ctx, domain) + [energy]


def calibrated_models(ctx: Context) -> list[CalibratedModel]:
    prepare(ctx)
    domain = "in_mort_diet"
    covariates = diet_covariates(ctx, domain, usual=True)
    out = []
    for outcome in CALIBRATED_OUTCOMES:
        events = int((ctx.frame[domain] & (ctx.frame["wt_day1"] > 0) & ctx.frame[outcome].fillna(False).astype(bool)).sum())
        if outcome != "died_heart":
            spec = ctx.spec(outcome, ["mg_adequate_usual"], "cox", covariates=covariates, time=TIME)
            out.append(CalibratedModel(f"{outcome}_by_mg_adequacy_usual", "mortality", spec, ("mg_adequate_usual",),
                                       domain, "wt_day1", ratio_scale=HR_SCALE,
                                       note=f"{OUTCOMES[outcome]}; usual magnesium adequacy (regression calibration); "
                                            f"{events} events"))
        spec = ctx.spec(outcome, JOINT_TERMS, "cox", covariates=covariates, time=TIME)
        out.append(CalibratedModel(
            f"{outcome}_by_mg_x_vitd_usual", "mortality", spec, tuple(JOINT_TERMS), domain, "wt_day1",
            quantities=[Quantity(BOTH, combination({t: 1.0 for t in JOINT_TERMS}), "log", ("effect", BOTH, "all"))],
            ratio_scale=HR_SCALE,
            note=f"{OUTCOMES[outcome]}; usual magnesium adequacy (regression calibration) x 25(OH)D >= "
                 f"{settings(ctx)['vitd_adequate_nmol']:g} nmol/L; reference: neither; {events} events"))
    return out + calibrated_ph_checks(ctx, covariates)


def cox_table(ctx: Context, outcome: str, exposures: list[str], domain: str, weight: str, covariates: list[str],
              name: str, note: str, lincoms: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    spec = ctx.spec(outcome, exposures, "cox", covariates=covariates, time=TIME)
    fitted = ctx.fit(spec, weight, domain)
    rows = [keyed(fitted.lincom(w, label), "effect", label) for label, w in (lincoms or {}).items()]
    table = model_table(fitted, name, domain, weight, ctx.covariate_text(spec, exposures), rows, scale=HR_SCALE)
    table["note"] = f"{note}; {fitted.events} events"
    table["variance"] = "taylor"
    return table


def serum_models(ctx: Context) -> list[pd.DataFrame]:
    per_unit = vitd_per_unit(ctx)
    covariates = serum_covariates(ctx, DOMAIN)
    threshold = settings(ctx)["vitd_adequate_nmol"]
    out = []
    for outcome, label in OUTCOMES.items():
        out.append(cox_table(ctx, outcome, [per_unit], DOMAIN, "wt_mec", covariates, f"{outcome}_by_vitd_per_unit",
                             f"{label}; 25(OH)D per {settings(ctx)['vitd_unit_nmol']:g} nmol/L; MEC weight"))
        out.append(cox_table(ctx, outcome, ["vitd_low"], DOMAIN, "wt_mec", covariates, f"{outcome}_by_vitd_below",
                             f"{label}; 25(OH)D < {threshold:g} vs >= {threshold:g} nmol/L; MEC weight"))
    return out


def split_follow_up(frame: pd.DataFrame, outcome: str, at: float) -> pd.DataFrame:
    """Every row's follow-up cut at `at` months: (.., at] for everyone (the whole design stays),
    (at, end] again for those followed beyond; `late` marks the second period, `frame_row` the
    row of `frame` each row repeats."""
    end = frame[TIME]
    early = frame.assign(period_entry=-1.0, period_end=end.clip(upper=at),
                         period_event=frame[outcome].astype("boolean") & (end <= at), late=0.0,
                         frame_row=np.arange(len(frame)))
    beyond = (end > at).fillna(False).to_numpy()
    late = frame[beyond].assign(period_entry=at, period_end=end[beyond],
                                period_event=frame.loc[beyond, outcome].astype("boolean"), late=1.0,
                                frame_row=np.flatnonzero(beyond))
    return pd.concat([early, late], ignore_index=True)


def ph_check_spec(ctx: Context, exposures: list[str], covariates: list[str]):
    """Exposures and each exposure x later follow-up, on the split data. No "late" main effect: a
    function of time alone, it is the baseline hazard's (not identifiable)."""
    late = [f"{e}:late" for e in exposures]
    spec = ctx.spec("period_event", list(exposures) + late, "cox", covariates=covariates, time="period_end",
                    entry="period_entry")
    return spec, late


def split_for(ctx: Context, frame: pd.DataFrame, outcome: str, exposures: list[str], domain: str, weight: str,
              covariates: list[str]) -> pd.DataFrame:
    """`frame`'s follow-up split at params ph_split_months, with only the columns the model uses."""
    needed = ["seqn", "sdmvstra", "sdmvpsu", weight, domain, outcome, TIME] + \
        [p for e in exposures for p in e.split(":")] + covariates
    return split_follow_up(frame[list(dict.fromkeys(needed))], outcome, float(settings(ctx)["ph_split_months"]))


def ph_note(ctx: Context, outcome: str) -> str:
    return (f"proportional-hazards check: hazard ratio of each exposure after {settings(ctx)['ph_split_months']:g} "
            f"months of follow-up over before (1 = proportional); {OUTCOMES[outcome]}")


def proportional_hazards(ctx: Context, outcome: str, exposures: list[str], domain: str, weight: str,
                         covariates: list[str], name: str) -> pd.DataFrame:
    """Each exposure x later follow-up in the split data: its hazard ratio is the exposure's HR
    after the split over its HR before; near 1 (CI including 1) is consistent with proportional
    hazards. With several exposures, a Wald F test that all their ratios are 1 follows."""
    split = split_for(ctx, ctx.frame, outcome, exposures, domain, weight, covariates)
    spec, late = ph_check_spec(ctx, exposures, covariates)
    fitted = SurveyData(split).coxph(spec, weight, domain)
    walds = [fitted.wald(late, "proportional hazards: all exposure x later follow-up terms = 0")] if len(late) > 1 else []
    table = model_table(fitted, name, domain, weight, ctx.covariate_text(spec, list(exposures) + late),
                        walds=walds, scale=HR_SCALE)
    table = table[table["contrast"].isin(late) | table["quantity"].eq("wald")].copy()
    table["note"] = ph_note(ctx, outcome)
    table["variance"] = "taylor"
    return table


def calibrated_ph_checks(ctx: Context, covariates: list[str]) -> list[CalibratedModel]:
    """The proportional-hazards check of the calibrated joint-category model: the same split
    follow-up, its usual magnesium adequacy recomputed on every replicate with the person's
    repeated rows sharing it (analyses/calibrated.py's `expand`). Reported: each term x later
    follow-up and "both adequate vs neither" later over earlier (the claim's contrast)."""
    domain = "in_mort_diet"
    spec, late = ph_check_spec(ctx, JOINT_TERMS, covariates)
    out = []
    for outcome in PH_CHECKED:
        def expand(frame: pd.DataFrame, outcome: str = outcome) -> tuple[pd.DataFrame, np.ndarray]:
            split = split_for(ctx, frame, outcome, JOINT_TERMS, domain, "wt_day1", covariates)
            return split, split["frame_row"].to_numpy()

        out.append(CalibratedModel(
            f"{outcome}_by_mg_x_vitd_usual_ph_check", PH_TABLE, spec, tuple(JOINT_TERMS + late), domain,
            "wt_day1", quantities=[Quantity(f"{BOTH}:late", combination({t: 1.0 for t in late}), "log",
                                            ("effect", f"{BOTH}:late", "all"))],
            ratio_scale=HR_SCALE, note=ph_note(ctx, outcome) + "; usual magnesium adequacy (regression calibration)",
            expand=expand))
    return out


def day1_models(ctx: Context) -> list[pd.DataFrame]:
    domain = "in_mort_diet"
    covariates = diet_covariates(ctx, domain, usual=False)
    return [cox_table(ctx, outcome, DAY1_TERMS, domain, "wt_day1", covariates, f"{outcome}_by_mg_x_vitd_day1",
                      f"sensitivity: one day's magnesium intake; {OUTCOMES[outcome]}",
                      {BOTH: {t: 1.0 for t in DAY1_TERMS}})
            for outcome in CALIBRATED_OUTCOMES]


def supplement_models(ctx: Context) -> list[pd.DataFrame]:
    domain = "in_mort_supp"
    return [cox_table(ctx, outcome, SUPPLEMENT_TERMS, domain, "wt_day1", serum_covariates(ctx, domain),
                      f"{outcome}_by_supplements", f"{SELF_SELECTED}; reference: neither supplement; {OUTCOMES[outcome]}")
            for outcome in ("died_cvd", "died")]


GROUPS = ["both adequate", "magnesium only", "25(OH)D only", "neither"]
SURVIVAL_OUTCOMES = ["died", "died_cvd"]


class SurvivalCurves:
    """Weighted Kaplan-Meier survival by joint category at every month of follow-up, in domain
    in_mort_diet with the day-1 dietary weight. A person counts in each category with the
    probability of belonging to it (usual magnesium adequacy is a probability; 25(OH)D is
    measured), so the curves are those the calibrated model implies. Cardiovascular curves
    censor other deaths (cause-specific survival)."""

    def __init__(self, ctx: Context, magnesium: str):
        inside = ctx.frame["in_mort_diet"].to_numpy()
        self.rows = np.flatnonzero(inside)
        members = ctx.frame.iloc[self.rows]
        self.magnesium = magnesium
        self.months = members[TIME].to_numpy(dtype=float).astype(int)
        self.grid = np.arange(0, self.months.max() + 1)
        self.weight = members["wt_day1"].to_numpy(dtype=float)
        self.vitd = members["vitd_adequate"].to_numpy(dtype=float)
        self.events = {o: members[o].astype(bool).to_numpy() for o in SURVIVAL_OUTCOMES}

    def compute(self, columns: dict[str, np.ndarray], factor: np.ndarray) -> np.ndarray:
        mg = columns[self.magnesium][self.rows]
        shares = {"both adequate": mg * self.vitd, "magnesium only": mg * (1 - self.vitd),
                  "25(OH)D only": (1 - mg) * self.vitd, "neither": (1 - mg) * (1 - self.vitd)}
        w = self.weight * factor[self.rows]
        out = []
        for outcome in SURVIVAL_OUTCOMES:
            for group in GROUPS:
                wg = w * shares[group]
                deaths = np.bincount(self.months, weights=wg * self.events[outcome], minlength=len(self.grid))
                leaving = np.bincount(self.months, weights=wg, minlength=len(self.grid))
                at_risk = wg.sum() - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
                hazard = np.divide(deaths, at_risk, out=np.zeros_like(deaths), where=at_risk > 0)
                out.append(np.cumprod(1 - hazard))
        return np.concatenate(out)

    def tidy(self, estimate: np.ndarray, se: np.ndarray, df: float, basis: str, variance: str) -> pd.DataFrame:
        low, high = interval(estimate, se, df)
        keys = [(o, g, m) for o in SURVIVAL_OUTCOMES for g in GROUPS for m in self.grid]
        table = pd.DataFrame(keys, columns=["outcome", "group", "month"])
        table["estimate"] = estimate
        table["std_error"] = se
        table["ci_low"] = np.clip(low, 0, 1)
        table["ci_high"] = np.clip(high, 0, 1)
        table["df"] = df
        table["basis"] = basis
        table["variance"] = variance
        return table


def survival_statistic(ctx: Context) -> CalibratedStatistic:
    curves = SurvivalCurves(ctx, "mg_adequate_usual")
    return CalibratedStatistic("mortality_survival", curves.compute,
                               lambda est, se, df: curves.tidy(est, se, df, "usual magnesium (regression calibration)",
                                                               ctx.params["usual_intake"]["replicates"] + ", both steps"),
                               needs=(curves.magnesium,))


def survival_day1(ctx: Context) -> pd.DataFrame:
    """The curves by one day's magnesium adequacy (no usual-intake model), replicate-weight SEs."""
    curves = SurvivalCurves(ctx, "mg_adequate_day1")
    columns = {"mg_adequate_day1": ctx.frame["mg_adequate_day1"].to_numpy(dtype=float)}
    replicates = engine.design(ctx.frame, ctx.params)
    ones = np.ones(len(ctx.frame))
    curve = engine.replicate_estimate(lambda r: curves.compute(columns, ones if r is None else replicates.factors[:, r]),
                            replicates, "analyze: survival curves (one day) on replicates")
    return curves.tidy(curve.full, curve.std_error, curve.df, "one day's magnesium intake",
                       ctx.params["usual_intake"]["replicates"])


def run(ctx: Context, calibrated_tables: dict[str, pd.DataFrame]) -> Result:
    prepare(ctx)
    per_unit = vitd_per_unit(ctx)
    primary = calibrated_tables.get("mortality")
    parts = serum_models(ctx)
    parts += [proportional_hazards(ctx, outcome, [per_unit], DOMAIN, "wt_mec", serum_covariates(ctx, DOMAIN),
                                   f"{outcome}_by_vitd_per_unit_ph_check") for outcome in PH_CHECKED]
    # the joint categories on one day's magnesium (Taylor, with a Wald F of the three) ...
    parts += [proportional_hazards(ctx, outcome, JOINT_DAY1, "in_mort_diet", "wt_day1",
                                   diet_covariates(ctx, "in_mort_diet", usual=False), f"{outcome}_by_joint_day1_ph_check")
              for outcome in PH_CHECKED]
    # ... and on usual magnesium (regression calibration, replicate SEs): only the ':late' rows
    calibrated_checks = calibrated_tables.get(PH_TABLE)
    if calibrated_checks is not None:
        parts.append(calibrated_checks[calibrated_checks["contrast"].str.endswith(":late")])
    day1 = day1_models(ctx)
    parts += ([primary] if primary is not None else []) + day1 + supplement_models(ctx)
    table = pd.concat(parts, ignore_index=True)
    if primary is not None:
        evidence = row(table, "died_cvd_by_mg_x_vitd_usual", "effect", BOTH)
        label = "HR of cardiovascular death, usual magnesium and 25(OH)D both adequate vs neither"
    else:
        evidence = row(table, "died_cvd_by_mg_x_vitd_day1", "effect", BOTH)
        label = "HR of cardiovascular death, magnesium (one day) and 25(OH)D both adequate vs neither"
    survival = calibrated_tables.get("mortality_survival")
    survival = survival if survival is not None else survival_day1(ctx)
    return Result(tables={"mortality": table, "mortality_survival": survival}, evidence=[evidence_of(evidence, label)],
                  test_label=ctx.params["verdicts"]["C11"]["test"])


def day1_result(primary: Result) -> Result:
    """C11 on one day's magnesium intake (the sensitivity analysis), from the primary run's table."""
    table = primary.tables["mortality"]
    both = row(table, "died_cvd_by_mg_x_vitd_day1", "effect", BOTH)
    return Result(evidence=[evidence_of(both, "HR of cardiovascular death, both adequate vs neither (one day's intake)")],
                  test_label="as C11, one day's magnesium intake")
