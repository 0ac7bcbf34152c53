"""Usual intake and the prevalence of inadequacy for any nutrient of the registry (NCI method).

For one nutrient and the persons of one model (analysis/analyses/adequacy.py fits one per DRI
life stage and combines them): the amount-only measurement-error model (analysis/usual/model.py),
or the two-part model (analysis/usual/episodic.py) for a nutrient many recall days hold none of,
is fitted with the reported groups as its covariates (each group gets its own usual-intake
distribution, as NCI's DISTRIB with subgroup covariates), on the full sample and on every
replicate of the design; each fit gives, per group:

- mean and percentiles of usual intake;
- below_ear: the share whose usual intake is below their life stage's EAR (the EAR cut-point
  method), or for iron the full probability approach: the mean over persons of
  P(requirement > usual intake), the requirement distribution from the DRI report;
- above_ai: the share whose usual intake is above the AI (nutrients with an AI only: intake
  below the AI says nothing about inadequacy, so no share below it is given);
- above_ul: the share above the UL, of usual total intake (foods + supplements), or of usual
  supplement intake where the UL concerns supplements only (magnesium, niacin, folic acid);
- above_cdrr: sodium's share above its chronic disease risk reduction intake.

Sources: `food` (usual intake from foods and beverages) and `total`, usual food intake plus
each person's usual supplement intake (NCI's "shrink then add", Bailey et al. 2019: the food
distribution is shrunk for day-to-day variation, then the person's 30-day supplement average is
added). Beside them, `basis = day1` rows give the same shares and means from one day's recall
(food; food + the same supplement intake): the sensitivity rows, which overstate the tails.

Every value is recomputed on every replicate (model refit included), so the SEs carry both steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse, special
from scipy.interpolate import PchipInterpolator

from analysis.core.errors import DataError
from analysis.data.nutrients import Nutrient, Registry
from analysis.survey import nchs
from analysis.survey import replicates as engine
from analysis.survey.design import Replicates
from analysis.survey.intervals import interval
from analysis.usual import distribution, episodic
from analysis.usual.individual import normal_expectation, usual_curve
from analysis.usual.model import Nutrient as Recall, Parameters, fit, recall_data

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
WEIGHT = "_weight"  # the key source of a group's total weight in a fit's values
SHARES = ("below_ear", "above_ai", "above_ul", "above_cdrr")
COLUMNS = ["nutrient", "source", "basis", "group_by", "group", "measure", "estimate", "std_error", "ci_low", "ci_high",
           "df", "n", "unit", "reference", "method", "reliability", "variance", "cycles", "note"]


@dataclass
class Persons:
    """The persons of one nutrient's model (its domain), as arrays."""

    nutrient: Nutrient
    frame: pd.DataFrame
    data: object  # RecallData (amount-only model) or episodic.EpisodicData (two-part model)
    supplement: np.ndarray | None  # usual supplement intake; None: total intake not estimable
    dri: dict[str, np.ndarray]  # ear, ai, ul, cdrr per person (NaN where none)
    groups: dict[str, np.ndarray]
    stages: np.ndarray
    patterns: dict[str, np.ndarray]  # per source: persons sharing covariates (and supplement) share a CDF

    @property
    def episodic(self) -> bool:
        return isinstance(self.data, episodic.EpisodicData)

    @property
    def day1_weight(self) -> np.ndarray:
        return self.data.weight if self.episodic else self.data.day1_weight

    @property
    def design(self) -> np.ndarray:
        return self.data.design

    @property
    def n_two_recalls(self) -> int:
        return int((~np.isnan(self.data.consumed[:, 1])).sum() if self.episodic else self.data.has_day2.sum())

    @cached_property
    def membership(self) -> sparse.csr_matrix:
        """The groups as a sparse (groups x persons) 0/1 matrix: every group's sums in one product."""
        return sparse.csr_matrix(np.vstack(list(self.groups.values())).astype(float))


# ---------------------------------------------------------------------------- requirements


def requirement_cdf(registry: Registry, nutrient: Nutrient, stages: np.ndarray, intake: np.ndarray) -> np.ndarray:
    """P(requirement <= intake) per person (rows of `intake`, any trailing shape), for the
    probability approach: the DRI report's requirement percentiles where it gives them
    (menstruating women), linear between them, 0 below the 2.5th and 1 above the 97.5th
    percentile's intake (the report's convention: risk 1 and 0 there); elsewhere a log-normal
    with median EAR and 97.5th percentile RDA."""
    ear = registry.dri_values(nutrient, "ear", pd.Series(stages, dtype="string"))
    rda = registry.dri_values(nutrient, "rda", pd.Series(stages, dtype="string"))
    intake = np.asarray(intake, dtype=float)
    shape = (-1,) + (1,) * (intake.ndim - 1)
    sigma = (np.log(rda / ear) / special.ndtri(0.975)).reshape(shape)
    out = special.ndtr((np.log(np.maximum(intake, 1e-12)) - np.log(ear).reshape(shape)) / sigma)
    for spec in registry.iron_requirements.values():
        rows = np.isin(stages, spec["groups"])
        if rows.any():
            points = np.asarray(spec["intake_mg"], dtype=float)
            probs = np.asarray(spec["percentiles"], dtype=float) / 100
            table = np.interp(intake[rows], points, probs)
            table = np.where(intake[rows] < points[0], 0.0, np.where(intake[rows] > points[-1], 1.0, table))
            out[rows] = table
    return out


# ---------------------------------------------------------------------------- persons


def persons(frame: pd.DataFrame, registry: Registry, nutrient: Nutrient, by: list[str], domain: np.ndarray,
            references: dict[str, str], with_total: bool, two_part: bool = False) -> Persons:
    """The domain's persons with a reliable day-1 recall of the nutrient, a day-1 weight, a life
    stage and (`with_total`) a known usual supplement intake. `frame`: the analytic table of the
    chosen cycles merged with data_clean/nutrient_intakes.parquet."""
    keep = (domain & frame["recall_day1_reliable"].fillna(False).to_numpy(bool) & (frame["wt_day1"] > 0).to_numpy()
            & frame[nutrient.day1_column].notna().to_numpy() & frame["life_stage"].notna().to_numpy())
    if with_total:
        keep &= frame[nutrient.supplement_column].notna().to_numpy()
    for column in by:
        keep &= frame[column].notna().to_numpy()
    sub = frame[keep].reset_index(drop=True)
    numeric = [c for c in by if not pd.api.types.is_string_dtype(sub[c])]
    categorical = {c: references.get(c, sorted(sub[c].dropna().unique())[0] if len(sub) else "")
                   for c in by if pd.api.types.is_string_dtype(sub[c])}
    data = recall_data(sub, [Recall(nutrient.name, nutrient.day1_column, nutrient.day2_column)], numeric, categorical)
    if two_part:
        day2 = sub[nutrient.day2_column].where(sub["recall_day2_reliable"].fillna(False).astype(bool))
        amounts = np.column_stack([sub[nutrient.day1_column].to_numpy(float), day2.to_numpy(float)])
        data = episodic.episodic_data(amounts, data.design, data.names, data.day1_weight, data.day2_weight,
                                      nutrient.name)
    stages = sub["life_stage"].astype(str).to_numpy()
    dri = {kind: registry.dri_values(nutrient, kind, sub["life_stage"]) for kind in ("ear", "ai", "ul", "cdrr")}
    groups = {"all": np.ones(len(sub), bool)}
    for column in by:
        values = sub[column].astype(str).to_numpy()
        for level in sorted(set(values)):
            groups[f"{column}={level}"] = values == level
    supplement = sub[nutrient.supplement_column].to_numpy(dtype=float) if with_total else None
    patterns = {"food": distribution.Population.patterns(data.design, np.zeros(len(sub)))}
    if supplement is not None:
        patterns["total"] = distribution.Population.patterns(data.design, supplement)
    return Persons(nutrient, sub, data, supplement, dri, groups, stages, patterns)


# ---------------------------------------------------------------------------- one fit's values


def _share(weights: np.ndarray, values: np.ndarray, p: "Persons", defined: np.ndarray) -> dict:
    """Weighted mean of `values` per group over the persons where `defined` (NaN if none)."""
    w = np.where(defined, weights, 0.0)
    totals, sums = p.membership @ w, p.membership @ (w * np.where(defined, values, 0.0))
    return {name: float(s / t) if t > 0 else np.nan for name, s, t in zip(p.groups, sums, totals)}


class AmountOnly:
    """One fit of the amount-only model, as the distribution the measures need."""

    label = "NCI amount-only model"

    def __init__(self, p: Persons, fitted: Parameters):
        self.eta = p.design @ fitted.beta[: p.design.shape[1], 0]  # weekday linear predictor
        self.curve, self.sd_u = usual_curve(fitted, 0, self.eta), float(np.sqrt(fitted.sigma_u[0, 0]))

    def food_mean(self) -> np.ndarray:
        levels, level_of = np.unique(self.eta, return_inverse=True)  # few: the covariates are the groups
        return normal_expectation(lambda u, _: self.curve.amount(u), levels,
                                  np.full(len(levels), self.sd_u))[level_of.ravel()]

    def below(self, cut: np.ndarray, supplement: np.ndarray) -> np.ndarray:
        """P(usual food intake + supplement < cut) per person (0 where the supplement alone reaches it)."""
        return special.ndtr((self.curve.inverse(cut - supplement) - self.eta) / self.sd_u)

    def intake_nodes(self, supplement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Usual total intake at Gauss-Hermite nodes of the person effect, and the nodes' weights."""
        nodes, node_weights = np.polynomial.hermite_e.hermegauss(40)
        return (self.curve.amount(self.eta[:, None] + self.sd_u * nodes[None, :]) + supplement[:, None],
                node_weights / np.sqrt(2 * np.pi))

    def percentiles(self, p: Persons, weights: np.ndarray, supplement: np.ndarray, source: str,
                    begin: dict | None) -> dict[str, np.ndarray]:
        pop = distribution.Population(self.eta, supplement, p.dri["ear"], weights, p.groups, p.patterns[source])
        return distribution.percentiles(self.curve, self.sd_u, pop, [q / 100 for q in PERCENTILES], True, begin)


class TwoPart:
    """One fit of the episodic (two-part) model, as the distribution the measures need."""

    label = "NCI two-part (episodic) model, uncorrelated parts"
    GRID = 400

    def __init__(self, p: Persons, fitted: episodic.EpisodicParameters):
        self.dist = episodic.EpisodicDistribution.of(p.design, fitted)

    def food_mean(self) -> np.ndarray:
        return self.dist.mean()

    def below(self, cut: np.ndarray, supplement: np.ndarray) -> np.ndarray:
        return self.dist.below(cut, supplement)

    def intake_nodes(self, supplement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nodes, node_weights = np.polynomial.hermite_e.hermegauss(20)
        node_weights = node_weights / np.sqrt(2 * np.pi)
        d = self.dist
        amount = d.curve.amount(d.eta_b[:, None] + d.sigma_u * nodes[None, :])  # (persons, u)
        probability = special.expit(d.eta_a[:, None] + d.sigma_v * nodes[None, :])  # (persons, v)
        intake = (amount[:, :, None] * probability[:, None, :]).reshape(len(amount), -1) + supplement[:, None]
        return intake, np.outer(node_weights, node_weights).ravel()

    def percentiles(self, p: Persons, weights: np.ndarray, supplement: np.ndarray, source: str,
                    begin: dict | None) -> dict[str, np.ndarray]:
        """Each group's percentiles from its mixture CDF on a fine log grid (monotone
        interpolation; persons sharing covariates and supplement share a CDF)."""
        pattern = p.patterns[source]
        n_keys = int(pattern.max()) + 1
        first = np.zeros(n_keys, dtype=int)
        first[pattern[::-1]] = np.arange(len(pattern))[::-1]
        d = self.dist
        high = float(d.curve.amount(d.eta_b.max() + 8 * d.sigma_u) + supplement.max())
        grid = np.geomspace(high * 1e-6, high, self.GRID)
        below = self.dist_below_keys(first, supplement, grid)  # (keys, grid)
        out = {}
        probs = np.array(PERCENTILES) / 100
        for name, members in p.groups.items():
            mass = np.bincount(pattern[members], weights=weights[members], minlength=n_keys)
            cdf = (mass / mass.sum()) @ below
            rising = np.concatenate([[True], np.diff(cdf) > 1e-12])
            out[name] = np.exp(PchipInterpolator(cdf[rising], np.log(grid[rising]))(probs))
        return out

    def dist_below_keys(self, first: np.ndarray, supplement: np.ndarray, grid: np.ndarray) -> np.ndarray:
        d = self.dist
        part = episodic.EpisodicDistribution(d.eta_a[first], d.eta_b[first], d.sigma_v, d.sigma_u, d.curve)
        return part.below(np.broadcast_to(grid, (len(first), len(grid))), supplement[first])


def fitted_distribution(p: Persons, fitted) -> AmountOnly | TwoPart:
    return TwoPart(p, fitted) if isinstance(fitted, episodic.EpisodicParameters) else AmountOnly(p, fitted)


def usual_values(p: Persons, fitted, registry: Registry, factor: np.ndarray | None = None,
                 start: dict | None = None) -> dict[tuple, float]:
    """{(source, basis, group, measure): value} of one fit (the full sample's or a replicate's,
    with that replicate's weight factors)."""
    model = fitted_distribution(p, fitted)
    weights = p.day1_weight if factor is None else p.day1_weight * factor
    out: dict[tuple, float] = {}
    everyone = np.ones(len(weights), bool)
    sources = [("food", np.zeros(len(weights)))] + ([("total", p.supplement)] if p.supplement is not None else [])
    food_mean = model.food_mean()
    for group, total in zip(p.groups, p.membership @ weights):
        out[WEIGHT, "", group, ""] = float(total)  # for combining model strata (dropped from the table)
    for source, supplement in sources:
        for group, value in _share(weights, food_mean + supplement, p, everyone).items():
            out[(source, "usual", group, "mean")] = value
        begin = None if start is None else {g: [start[(source, "usual", g, f"p{q}")] for q in PERCENTILES]
                                            for g in p.groups}
        for group, values in model.percentiles(p, weights, supplement, source, begin).items():
            for q, value in zip(PERCENTILES, values):
                out[(source, "usual", group, f"p{q}")] = float(value)
        for measure, value in _usual_shares(p, registry, model, supplement, weights, source).items():
            for group, share in value.items():
                out[(source, "usual", group, measure)] = share
    out |= day1_values(p, registry, weights)
    return out


def above_measures(n: Nutrient) -> list[tuple[str, str]]:
    """(measure, DRI kind) of the shares above a cut-off the nutrient's DRIs give, on either basis:
    the AI (AI-only nutrients: intake below it says nothing), the CDRR, and the UL where it limits
    total intake (a UL on supplements alone is a share of supplement intake, usual basis only)."""
    out = [(f"above_{kind}", kind) for kind in ("ai", "cdrr") if n.has(kind) and not (kind == "ai" and n.has("ear"))]
    return out + ([("above_ul", "ul")] if n.ul_applies_to == "total" else [])


def _usual_shares(p: Persons, registry: Registry, model, supplement: np.ndarray, weights: np.ndarray,
                  source: str) -> dict[str, dict[str, float]]:
    n = p.nutrient
    out = {}
    if n.has("ear"):
        if n.requirement == "probability":
            intake, node_weights = model.intake_nodes(supplement)
            risk = (1 - requirement_cdf(registry, n, p.stages, intake)) @ node_weights
        else:
            risk = model.below(p.dri["ear"], supplement)
        out["below_ear"] = _share(weights, risk, p, ~np.isnan(p.dri["ear"]))
    for measure, kind in above_measures(n):
        out[measure] = _share(weights, 1 - model.below(p.dri[kind], supplement), p, ~np.isnan(p.dri[kind]))
    if n.ul_applies_to == "supplements" and source == "total":
        over = (supplement / n.ul_supplement_divisor > p.dri["ul"]).astype(float)
        out["above_ul"] = _share(weights, over, p, ~np.isnan(p.dri["ul"]))
    return out


def day1_values(p: Persons, registry: Registry, weights: np.ndarray) -> dict[tuple, float]:
    """The sensitivity rows: the same means and shares from one day's recall (no model)."""
    n = p.nutrient
    day1 = p.frame[n.day1_column].to_numpy(dtype=float)
    out = {}
    sources = [("food", np.zeros(len(day1)))] + ([("total", p.supplement)] if p.supplement is not None else [])
    everyone = np.ones(len(day1), bool)
    for source, supplement in sources:
        intake = day1 + supplement
        for group, value in _share(weights, intake, p, everyone).items():
            out[(source, "day1", group, "mean")] = value
        measures = {}
        if n.has("ear"):
            risk = (1 - requirement_cdf(registry, n, p.stages, intake) if n.requirement == "probability"
                    else (intake < p.dri["ear"]).astype(float))
            measures["below_ear"] = (risk, ~np.isnan(p.dri["ear"]))
        for measure, kind in above_measures(n):
            measures[measure] = ((intake > p.dri[kind]).astype(float), ~np.isnan(p.dri[kind]))
        for measure, (values, defined) in measures.items():
            for group, value in _share(weights, values, p, defined).items():
                out[(source, "day1", group, measure)] = value
    return out


# ---------------------------------------------------------------------------- the estimates


def estimate(p: Persons, registry: Registry, factors: np.ndarray, replicates: Replicates,
             desc: str) -> tuple[dict, np.ndarray]:
    """(full-sample values, their SEs): the model refitted and every value recomputed on every
    replicate."""
    [(full, reps)] = estimate_parts([(p, factors)], registry, desc)
    return full, replicates.standard_error(np.array(list(full.values())), reps)


def estimate_parts(parts: list[tuple[Persons, np.ndarray]], registry: Registry,
                   desc: str) -> list[tuple[dict, np.ndarray]]:
    """For each (persons, their replicate factors) -- the model strata of one nutrient -- the
    full-sample values and the replicate values (replicates x keys), every model refitted on
    every replicate; one pass of the workers over the replicates does every stratum."""
    fits, fulls = [], []
    for p, _ in parts:
        if p.n_two_recalls < 3:
            raise DataError(f"{p.nutrient.name}: only {p.n_two_recalls} persons with two reliable recalls; "
                            "the usual-intake model needs a second recall for some of them")
        fitter = episodic.fit_episodic if p.episodic else fit
        fits.append((fitter, fitter(p.data)))
        fulls.append(usual_values(p, fits[-1][1], registry))

    def one(r: int) -> list[np.ndarray]:
        out = []
        for (p, factors), (fitter, full_fit), full in zip(parts, fits, fulls):
            refit = fitter(p.data, factors[:, r], near=full_fit)
            values = usual_values(p, refit, registry, factors[:, r], start=full)
            out.append(np.array([values[k] for k in full]))
        return out

    n_replicates = parts[0][1].shape[1]
    reps = engine.each(one, n_replicates, desc)
    return [(full, np.array([rep[i] for rep in reps])) for i, full in enumerate(fulls)]


def tidy(p: Persons, full: dict, se: np.ndarray, df: float, method: str,
         counts: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per (source, basis, group, measure), with CI, n and the NCHS reliability verdict.
    `counts`: persons per group (default: the groups of `p`)."""
    n = p.nutrient
    counts = {g: int(m.sum()) for g, m in p.groups.items()} if counts is None else counts
    rows = []
    for (source, basis, group, measure), s in zip(full, se):
        if source == WEIGHT:
            continue
        est = full[(source, basis, group, measure)]
        count = counts[group]
        share = measure in SHARES
        if np.isnan(est):
            continue
        if share and 0 < est < 1 and s > 0:
            low, high = interval(est, s, df, scale="logit")
        elif share:
            low, high = est, est  # a share of exactly 0 or 1 (e.g. no supplement user above the UL)
        else:
            low, high = interval(est, s, df)
        verdict = nchs.proportion(est, s, low, high, count, df)[0] if share else nchs.other(est, s, count, df)
        rows.append({"nutrient": n.name, "source": source, "basis": basis, "group_by": group.split("=")[0],
                     "group": group.split("=", 1)[-1], "measure": measure, "estimate": est, "std_error": s,
                     "ci_low": low, "ci_high": high, "df": df, "n": count,
                     "unit": "proportion" if share else f"{n.unit}/day", "reference": _reference(n, measure),
                     "method": _method(n, measure, basis, TwoPart.label if p.episodic else AmountOnly.label),
                     "reliability": verdict.label + (
                         f" ({'; '.join(verdict.reasons)})" if verdict.reasons else ""),
                     "variance": method, "note": _note(n, measure)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _reference(n: Nutrient, measure: str) -> str:
    kind = {"below_ear": "EAR", "above_ai": "AI", "above_ul": "UL", "above_cdrr": "CDRR"}.get(measure)
    return f"{kind} by life stage ({n.source})" if kind else ""


def _method(n: Nutrient, measure: str, basis: str, model: str) -> str:
    if basis == "day1":
        return "one day's recall (sensitivity; includes day-to-day variation)"
    if measure == "below_ear":
        rule = ("probability approach (requirement distribution of the DRI report)" if n.requirement == "probability"
                else "EAR cut-point method")
        return f"{rule}; {model}"
    return model + (", shrink then add" if measure != "mean" else "")


def _note(n: Nutrient, measure: str) -> str:
    if measure == "above_ul":
        return n.ul_note
    if measure == "below_ear" and n.requirement == "probability":
        return ("requirement percentiles of IOM 2001 Table 14-1 for menstruating women 19-50; log-normal through "
                "EAR (median) and RDA (97.5th percentile) for other groups")
    return ""


def zero_share(frame: pd.DataFrame, nutrient: Nutrient, domain: np.ndarray) -> float:
    """Weighted share of the domain's reliable day-1 recalls holding none of the nutrient."""
    rows = domain & frame["recall_day1_reliable"].fillna(False).to_numpy(bool) & frame[nutrient.day1_column].notna().to_numpy()
    w = frame["wt_day1"].to_numpy(float)[rows]
    return float(w @ (frame[nutrient.day1_column].to_numpy(float)[rows] <= 0) / w.sum()) if w.sum() > 0 else 0.0


def combine_strata(parts: list[tuple[str, dict, dict, dict]], strata: str, by: list[str]
                   ) -> tuple[dict, dict, dict[str, int]]:
    """The values of groups across separately fitted model strata: means and shares are the
    strata's values weighted by each group's weight in them (on the full sample and on every
    replicate alike, so the SEs carry the combination); percentiles only where one stratum holds
    the group (a mixture's percentile is not a weighted mean of percentiles). `parts`: per stratum
    (level, full values, replicate values {key: array}, persons per group)."""
    numerator, denominator, numerator_r, denominator_r = {}, {}, {}, {}
    single: dict[tuple, list] = {}
    counts: dict[str, int] = {}
    def targets(group: str, level: str) -> list[str]:
        """The output groups a stratum's group feeds: its own, and the stratum's (when reported)."""
        return ([f"{strata}={level}"] if group == "all" and strata in by else []) + [group]

    for level, full, reps, persons_per_group in parts:
        for key, value in full.items():
            source, basis, group, measure = key
            if source == WEIGHT or np.isnan(value):
                continue
            for target in targets(group, level):
                out_key = (source, basis, target, measure)
                if measure.startswith("p") and measure[1:].isdigit():
                    single.setdefault(out_key, []).append((value, reps[key]))
                    continue
                weight, weight_r = full[(WEIGHT, "", group, "")], reps[(WEIGHT, "", group, "")]
                numerator[out_key] = numerator.get(out_key, 0.0) + weight * value
                denominator[out_key] = denominator.get(out_key, 0.0) + weight
                numerator_r[out_key] = numerator_r.get(out_key, 0.0) + weight_r * reps[key]
                denominator_r[out_key] = denominator_r.get(out_key, 0.0) + weight_r
        for group, count in persons_per_group.items():
            for target in targets(group, level):
                counts[target] = counts.get(target, 0) + count
    full_out = {k: numerator[k] / denominator[k] for k in numerator}
    reps_out = {k: numerator_r[k] / denominator_r[k] for k in numerator}
    for key, found in single.items():
        if len(found) == 1:
            full_out[key], reps_out[key] = found[0]
    return full_out, reps_out, counts
