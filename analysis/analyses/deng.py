"""Replication of Deng et al., BMC Medicine 2013;11:187: magnesium and vitamin D intake and
vitamin D status in NHANES 2001-2006.

Logistic survey models of 25(OH)D deficiency (< 30 nmol/L) and of insufficiency (30 to < 50),
each against sufficiency (>= 50), on weighted quartiles of total magnesium intake (day-1 foods +
the 30-day supplement average) and of vitamin D intake (supplements only: no food vitamin D
before 2007), fully adjusted (params deng.covariates and the other nutrient's quartile), in the
domain in_deng of the three cycles' design (day-1 weight re-pooled over them). Run on 25(OH)D as
first released (radioimmunoassay, what the paper had) and as re-released (LC-MS/MS-equivalent).

How it differs from the paper, said in the table's notes: our covariates are those the files at
hand hold (no alcohol), supplement amounts come from CDC's July 2022 supplement database, and
vitamin D intake is supplements only. The published odds ratios sit beside ours (params
deng.published)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pathlib import Path

from analysis.analyses import calibrated
from analysis.analyses.calibrated import CalibratedModel
from analysis.analyses.common import OR_SCALE, Context, Result, keyed, model_table, tidy
from analysis.clean.features import weighted_quantile_cuts
from analysis.survey.terms import coding
from analysis.usual import eras

WEIGHT = "wt_day1"
DOMAIN = "in_deng"
EXPOSURES = {"magnesium": ("mg_total_30d_mg", 100.0, "per 100 mg/day"),
             "vitamin_d": ("vitd_supp_30d_ug", 10.0, "per 10 ug/day")}
ASSAYS = {"ria": ("vitd_serum_ria_nmol", "radioimmunoassay (as first released; the paper's values)"),
          "lcms": ("vitd_serum_nmol", "LC-MS/MS-equivalent (CDC's re-release)")}
REFERENCES = {"physical_activity": "inactive", "mg_quartile": "Q1", "vitd_quartile": "Q1"}
QUARTILE_OF = {"magnesium": "mg_quartile", "vitamin_d": "vitd_quartile"}
SCORE_OF = {"magnesium": "mg_score", "vitamin_d": "vitd_score"}
NOTE = ("vitamin D intake from supplements only (no food vitamin D before 2007-2008); intake = day-1 recall + "
        "30-day supplement average; quartile cut points weighted in the domain, ties at a cut in the lower "
        "quartile (an empty quartile is absent); P for trend: the quartiles' weighted medians as one "
        "continuous term; interaction: the product of the two median-coded intakes")


def quartiles(values: pd.Series, weights: pd.Series, inside: pd.Series) -> tuple[pd.Series, pd.Series, list[float]]:
    """(quartile label Q1-Q4, the quartile's weighted median, cut points) from weighted quartile
    cuts in the domain; a value at a cut falls in the lower quartile."""
    cuts = weighted_quantile_cuts(values[inside], weights[inside], [0.25, 0.5, 0.75])
    index = np.searchsorted(np.asarray(cuts), values.to_numpy(), side="left")
    labels = pd.Series(np.where(values.notna(), [f"Q{k + 1}" for k in index], None), index=values.index,
                       dtype="string")
    medians = pd.Series(np.nan, index=values.index)
    for label in labels[inside].dropna().unique():
        members = inside & (labels == label)
        medians[labels == label] = weighted_quantile_cuts(values[members], weights[members], [0.5])[0]
    return labels, medians, cuts


def add_exposures(ctx: Context) -> dict[str, list[float]]:
    """Quartile and median-score columns of both intakes; returns the cut points."""
    frame, inside = ctx.frame, ctx.frame[DOMAIN]
    cuts = {}
    for name, (column, unit, _) in EXPOSURES.items():
        labels, medians, cuts[name] = quartiles(frame[column], frame[WEIGHT], inside)
        frame[QUARTILE_OF[name]] = labels
        frame[SCORE_OF[name]] = medians / unit
    return cuts


def outcome_domain(ctx: Context, assay: str, outcome: str, extra: pd.Series | None = None) -> tuple[str, str]:
    """(outcome column, domain): deficiency (< 30) or insufficiency (30 to < 50), each vs >= 50."""
    p = ctx.params["deng"]
    serum = ctx.frame[ASSAYS[assay][0]]
    low, high = p["deficiency_below_nmol"], p["sufficiency_from_nmol"]
    name = f"deng_{outcome}_{assay}"
    if outcome == "deficiency":
        ctx.frame[name] = (serum < low).astype("boolean").mask(serum.isna())
        compared = (serum < low) | (serum >= high)
    else:
        ctx.frame[name] = (serum < high).astype("boolean").mask(serum.isna())
        compared = serum >= low
    inside = ctx.frame[DOMAIN] & compared.fillna(False)
    if extra is not None:
        inside &= extra.fillna(False).astype(bool)
    return name, ctx.add_domain(f"{name}__domain", inside)


def strata(ctx: Context) -> list[tuple[str, pd.Series, tuple[str, ...]]]:
    """(label, membership, covariates it makes constant) of the paper's stratified analyses."""
    p, f = ctx.params["deng"], ctx.frame
    vitd_median = weighted_quantile_cuts(f.loc[f[DOMAIN], "vitd_supp_30d_ug"], f.loc[f[DOMAIN], WEIGHT], [0.5])[0]
    out = [("all", pd.Series(True, index=f.index), ()),
           (f"age <= {p['age_split']}", f["age"] <= p["age_split"], ()),
           (f"age > {p['age_split']}", f["age"] > p["age_split"], ()),
           ("male", f["sex"] == "male", ("sex",)), ("female", f["sex"] == "female", ("sex",))]
    for level in ["nh_white", "nh_black", "mexican_american"]:
        out.append((f"race_eth {level}", f["race_eth"] == level, ("race_eth",)))
    out += [(f"BMI >= {p['obesity_bmi']}", f["bmi"] >= p["obesity_bmi"], ()),
            (f"BMI < {p['obesity_bmi']}", f["bmi"] < p["obesity_bmi"], ()),
            ("season nov_apr", f["season"] == "nov_apr", ("season",)),
            ("season may_oct", f["season"] == "may_oct", ("season",)),
            (f"vitamin D intake <= median ({vitd_median:g} ug/day)", f["vitd_supp_30d_ug"] <= vitd_median, ("vitd_quartile",)),
            (f"vitamin D intake > median ({vitd_median:g} ug/day)", f["vitd_supp_30d_ug"] > vitd_median, ("vitd_quartile",))]
    pth = f["pth_pg_ml"].where(f[DOMAIN])
    if pth.notna().sum():
        cuts = weighted_quantile_cuts(pth.dropna(), f.loc[pth.notna(), WEIGHT], [1 / 3, 2 / 3])
        bounds = [-np.inf, *cuts, np.inf]
        for k in range(3):
            members = (pth > bounds[k]) & (pth <= bounds[k + 1])
            out.append((f"PTH tertile {k + 1} (2005-2006)", members, ("cycle",)))
    return out


def covariates(ctx: Context, domain: str, drop: tuple[str, ...], other: str) -> list[str]:
    """params deng.covariates and the other nutrient's quartile, less what the stratum holds constant."""
    base = [c for c in [*ctx.params["deng"]["covariates"], other] if c not in drop]
    return ctx.covariates_for(domain, base)


def run(ctx: Context, data_clean: Path | None = None) -> Result:
    """The replication table; with `data_clean` holding the 2001-2006 era's usual-intake model,
    the magnesium rows on usual intake too (`usual_rows`)."""
    cuts = add_exposures(ctx)
    min_n = ctx.params["analyze"]["min_domain_n"]
    published = ctx.params["deng"]["published"]
    tables = []
    for assay in ASSAYS:
        for outcome in ("deficiency", "insufficiency"):
            for exposure in EXPOSURES:
                other = QUARTILE_OF["vitamin_d" if exposure == "magnesium" else "magnesium"]
                for label, members, constant in strata(ctx):
                    if exposure == "vitamin_d" and label != "all":
                        continue  # the paper stratifies the magnesium association
                    y, domain = outcome_domain(ctx, assay, outcome, members)
                    if ctx.frame[domain].sum() < min_n or ctx.frame.loc[ctx.frame[domain], y].nunique() < 2:
                        continue
                    tables.append(quartile_rows(ctx, y, domain, exposure, other, constant, label, assay, outcome,
                                                published.get(exposure, {}).get(outcome) if label == "all" else None))
                    if label == "all":
                        tables[-1].loc[tables[-1]["quantity"] == "trend", "published_p"] = published["trend_p"]
            y, domain = outcome_domain(ctx, assay, outcome)
            tables.append(interaction_rows(ctx, y, domain, assay, outcome))
            tables[-1]["published_p"] = published["interaction_p"]
    era = usual_era(ctx, data_clean)
    if era is not None:
        tables.append(usual_rows(era, eras.model_path(data_clean, ERA)))
    table = pd.concat(tables, ignore_index=True)
    notes = "; ".join(f"{name} quartile cuts {', '.join(f'{c:.4g}' for c in values)}" for name, values in cuts.items())
    table["note"] = (table["note"].fillna("") + " " + NOTE + "; " + notes).str.strip()
    return Result(tables={"deng_replication": table})


def quartile_rows(ctx: Context, y: str, domain: str, exposure: str, other: str, constant: tuple[str, ...],
                  label: str, assay: str, outcome: str, published: list[float] | None) -> pd.DataFrame:
    """Q2-Q4 vs Q1 and P for trend of one exposure in one stratum, with the published OR."""
    quartile, score = QUARTILE_OF[exposure], SCORE_OF[exposure]
    base = covariates(ctx, domain, constant, other)
    spec = ctx.spec(y, [quartile], "binomial", references=REFERENCES, covariates=base)
    model = f"{outcome}_{exposure}_{assay}"
    n_coefficients = 1 + len(coding(spec.terms[1:], ctx.frame[ctx.frame[domain]], {**ctx.references, **REFERENCES})[0])
    if n_coefficients > design_df(ctx, domain):  # decided before fitting: nothing to fit
        levels = sorted(ctx.frame.loc[ctx.frame[domain], quartile].dropna().unique())[1:]
        rows = pd.DataFrame([{"term": f"{exposure} {q} vs Q1", "quantity": "effect", "contrast": f"{q} vs Q1",
                              "group": label, "n": int(ctx.frame[domain].sum())} for q in levels])
        out = tidy(rows.reindex(columns=[*rows.columns, "estimate", "std_error", "ci_low", "ci_high", "statistic",
                                         "p_value", "df", "n_weighted"]), model, domain, WEIGHT,
                   ", ".join(spec.terms[1:]), OR_SCALE)
        return refuse_unsupported(ctx, labelled(out, assay, outcome, exposure), domain, n_coefficients)
    fitted = ctx.fit(spec, WEIGHT, domain)
    levels = [t for t in fitted.names if t.startswith(f"{quartile}_")]
    rows = [keyed(fitted.lincom({t: 1}, f"{exposure} {t.rsplit('_', 1)[1]} vs Q1"), "effect",
                  f"{t.rsplit('_', 1)[1]} vs Q1", label) for t in levels]
    trend = ctx.fit(ctx.spec(y, [score], "binomial", references=REFERENCES, covariates=base), WEIGHT, domain)
    rows.append(keyed(trend.lincom({score: 1}, f"{exposure} P for trend (median score)"), "trend", score, label))
    out = pd.concat([tidy(r, model, domain, WEIGHT, ", ".join(spec.terms[1:]), OR_SCALE) for r in rows],
                    ignore_index=True)
    out = labelled(refuse_unsupported(ctx, out, domain, len(fitted.names)), assay, outcome, exposure)
    if published is not None:
        top = out["contrast"] == "Q4 vs Q1"
        out.loc[top, ["published_or", "published_ci_low", "published_ci_high"]] = published
    return out


def labelled(rows: pd.DataFrame, assay: str, outcome: str, exposure: str) -> pd.DataFrame:
    """One model's rows with the table's label columns and (empty) published columns."""
    out = rows.copy()
    for position, (name, value) in enumerate([("assay", assay), ("outcome", outcome), ("exposure", exposure)], 1):
        out.insert(position, name, value)
    for column in ("published_or", "published_ci_low", "published_ci_high"):
        out[column] = np.nan
    out["published_p"] = pd.Series(np.nan, index=out.index, dtype=object)
    return out


def design_df(ctx: Context, domain: str) -> int:
    """PSUs minus strata among the domain's members: the degrees of freedom its design can give."""
    members = ctx.frame.loc[ctx.frame[domain], ["sdmvstra", "sdmvpsu"]]
    return len(members.drop_duplicates()) - members["sdmvstra"].nunique()


def refuse_unsupported(ctx: Context, rows: pd.DataFrame, domain: str, n_coefficients: int) -> pd.DataFrame:
    """No estimate where the model has more coefficients than its domain's design df (e.g. a
    stratum inside one cycle: 15 df for about 25 coefficients): its variance cannot be
    estimated, and the row says so instead of printing an interval that means nothing."""
    df = design_df(ctx, domain)
    if n_coefficients <= df:
        return rows
    out = rows.copy()
    out[["estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value"]] = np.nan
    out["note"] = f"not estimated: {n_coefficients} coefficients on {df} design df (PSUs - strata of the stratum)"
    return out


def interaction_rows(ctx: Context, y: str, domain: str, assay: str, outcome: str) -> pd.DataFrame:
    """Magnesium x vitamin D intake: the product of the two median-coded intakes, fully adjusted."""
    mg, vitd = SCORE_OF["magnesium"], SCORE_OF["vitamin_d"]
    base = [c for c in covariates(ctx, domain, (), "") if c]
    spec = ctx.spec(y, [mg, vitd, f"{mg}:{vitd}"], "binomial", references=REFERENCES, covariates=base)
    fitted = ctx.fit(spec, WEIGHT, domain)
    table = model_table(fitted, f"{outcome}_interaction_{assay}", domain, WEIGHT, ", ".join(base), scale=OR_SCALE)
    out = table[table["contrast"] == f"{mg}:{vitd}"].assign(quantity="interaction", group="all")
    return refuse_unsupported(ctx, labelled(out, assay, outcome, "magnesium x vitamin_d"), domain, len(fitted.names))


ERA = "2001-2006"  # the era (params eras.cycles) whose usual-intake model covers Deng's cycles
USUAL_NOTE = ("usual intake: E[usual total magnesium] per 100 mg/day from the 2001-2006 era's measurement-error model "
              "(energy, Mg, Ca; regression calibration, jackknife SEs rerunning both steps), beside the same model on "
              "day-1 + 30-day intake per 100 mg/day in the same persons (Taylor SEs)")


def usual_era(ctx: Context, data_clean: Path | None) -> Context | None:
    """The Deng frame with the era's usual-intake columns and params, when that model was fitted."""
    if data_clean is None or ERA not in ctx.params.get("eras", {}).get("cycles", {}):
        return None
    if not eras.fitted(data_clean, ERA) or list(ctx.params["eras"]["cycles"][ERA]) != list(ctx.params["deng"]["cycles"]):
        return None
    return Context(eras.with_columns(ctx.frame, data_clean, ERA), eras.era_params(ctx.params, ERA))


def usual_rows(ctx: Context, model_path: Path) -> pd.DataFrame:
    """Magnesium per 100 mg/day as usual intake (two-step) and as day-1 + 30-day intake, in
    the persons both cover, each outcome and assay; fully adjusted (usual energy and calcium)."""
    usual_covariates = {"kcal": "kcal_usual", "ca_total_30d_mg": "ca_total_usual_mg"}
    base = [usual_covariates.get(c, c) for c in ctx.params["deng"]["covariates"]] + [QUARTILE_OF["vitamin_d"]]
    ctx.frame["mg_total_30d_100"] = ctx.frame["mg_total_30d_mg"] / 100
    specs, day1 = [], []
    for assay in ASSAYS:
        for outcome in ("deficiency", "insufficiency"):
            y, domain = outcome_domain(ctx, assay, outcome, ctx.frame["in_usual_calibration"])
            covariates = ctx.covariates_for(domain, base)
            spec = ctx.spec(y, ["mg_total_usual_100"], "binomial", references=REFERENCES, covariates=covariates)
            specs.append(CalibratedModel(f"{outcome}_magnesium_usual_{assay}", "deng_usual", spec,
                                         ("mg_total_usual_100",), domain, WEIGHT, ratio_scale=OR_SCALE, note=USUAL_NOTE))
            day1.append((assay, outcome, domain, covariates, y))
    table = calibrated.run(ctx, specs, model_path).tables["deng_usual"]
    usual = table[table["contrast"] == "mg_total_usual_100"].copy()
    usual["group"] = "usual intake"
    exposure = "magnesium per 100 mg/day"
    parts = [labelled(usual[usual["model"] == f"{outcome}_magnesium_usual_{assay}"], assay, outcome, exposure)
             for assay, outcome, *_ in day1]
    for assay, outcome, domain, covariates, y in day1:
        spec = ctx.spec(y, ["mg_total_30d_100"], "binomial", references=REFERENCES, covariates=covariates)
        fitted = ctx.fit(spec, WEIGHT, domain)
        rows = keyed(fitted.lincom({"mg_total_30d_100": 1}, "magnesium per 100 mg/day (day-1 + 30-day)"), "slope",
                     "mg_total_30d_100", "one day's intake, same persons")
        parts.append(labelled(tidy(rows, f"{outcome}_magnesium_usual_{assay}", domain, WEIGHT, ", ".join(spec.terms[1:]),
                                   OR_SCALE, USUAL_NOTE), assay, outcome, exposure))
    return pd.concat(parts, ignore_index=True)
