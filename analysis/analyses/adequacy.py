"""The adequacy table: for each nutrient, source and group, usual intake (mean, percentiles) and
the shares below the EAR / above the AI / above the UL, with replicate SEs rerunning the model
(analysis/usual/adequacy.py). Used by the pipeline (reports/tables/adequacy.csv, by DRI life
stage) and by `python -m analysis adequacy` (any nutrients, groups, cycles and domain).

A nutrient the chosen cycles' files do not carry is not estimated, and says so; so is total
intake where CDC's supplement totals do not carry the nutrient (vitamins A and E)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core.cycles import cycle_span
from analysis.core.errors import ConfigError, DataError
from analysis.data.nutrients import Nutrient, Registry
from analysis.survey import replicates as engine
from analysis.survey.query import evaluate
from analysis.usual import adequacy
from analysis.usual.definition import references

log = logging.getLogger(__name__)

LIFE_STAGE = "life_stage"
INTAKES_FILE = "nutrient_intakes.parquet"


@dataclass
class Request:
    nutrients: list[Nutrient]
    by: list[str]
    sources: list[str]  # food and/or total
    where: str | None = None
    min_age: float = 1.0
    model: str = "auto"  # auto (two-part where params adequacy.two_part_above_zero_share), amount, two_part
    strata: str | None = LIFE_STAGE  # one model per level of this column (NCI / WWEIA: per DRI group); None: one model


def read_inputs(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """data_clean/analytic.parquet and nutrient_intakes.parquet, or an error naming the one missing."""
    intakes = paths.data_clean / INTAKES_FILE
    for path in (paths.analytic, intakes):
        if not path.exists():
            raise DataError(f"{path}: not found; run the clean stage first (`dvc repro clean`)")
    return pd.read_parquet(paths.analytic), pd.read_parquet(intakes)


def frame_for(analytic: pd.DataFrame, intakes: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """The analytic table of the chosen cycles with every nutrient's intakes and the DRI life stage."""
    extra = intakes.drop(columns=["cycle"])
    frame = analytic.merge(extra, on="seqn", how="left", validate="one_to_one")
    frame[LIFE_STAGE] = registry.life_stage(frame["age"], frame["sex"], frame["pregnant"])
    return frame


def unavailable_reason(frame: pd.DataFrame, nutrient: Nutrient, cycles: list[str]) -> str:
    """Why the nutrient cannot be estimated in these cycles ('' if it can): every chosen cycle
    must carry its day-1 amounts (a pooled estimate over cycles some of which lack it would
    silently speak for fewer years)."""
    have = frame.groupby("cycle")[nutrient.day1_column].apply(lambda s: s.notna().any())
    lacking = [c for c in cycles if not have.get(c, False)]
    if not lacking:
        if frame[nutrient.day2_column].notna().any():
            return ""
        return (f"not estimated: the source files lack DR2T{nutrient.code} (a second recall) in "
                f"{', '.join(cycles)}, so day-to-day variation cannot be told from person-to-person variation")
    published = [c for c in lacking if c in nutrient.not_published]
    why = (f"CDC did not publish {_in_sentence(nutrient.label)} intake in {', '.join(published)}" if published else
           f"the source files lack DR1T{nutrient.code} for {', '.join(c for c in lacking if c not in published)}")
    return f"not estimated: {why}; choose cycles that have it"


def total_reason(frame: pd.DataFrame, nutrient: Nutrient, cycles: list[str]) -> str:
    """Why total (food + supplement) intake cannot be estimated ('' if it can)."""
    if not nutrient.supplement:
        return f"total not estimated: CDC's supplement totals carry no {_in_sentence(nutrient.label.split(' (')[0])}"
    have = frame.groupby("cycle")[nutrient.supplement_column].apply(lambda s: s.notna().any())
    lacking = [c for c in cycles if not have.get(c, False)]
    if lacking:
        return f"total not estimated: no supplement amounts of {nutrient.name} for {', '.join(lacking)}"
    return ""


def _in_sentence(label: str) -> str:
    """A registry label inside a sentence: "Vitamin D" -> "vitamin D" (acronyms and letters kept)."""
    return label[:1].lower() + label[1:]


def not_estimated(nutrient: Nutrient, source: str, reason: str, cycles: str) -> pd.DataFrame:
    return pd.DataFrame([{c: np.nan for c in adequacy.COLUMNS} | {
        "nutrient": nutrient.name, "source": source, "basis": "usual", "measure": "not_estimated", "cycles": cycles,
        "note": reason}], columns=adequacy.COLUMNS)


def table(frame: pd.DataFrame, params: dict, registry: Registry, request: Request,
          explicit: bool = False) -> pd.DataFrame:
    """The adequacy rows of every requested nutrient. `frame`: `frame_for` of the chosen cycles
    (weights re-pooled over them). `explicit`: the user named the nutrients, so one that cannot
    be estimated is an error rather than a row saying so."""
    cycles = sorted(frame["cycle"].dropna().unique())
    span = cycle_span(cycles)
    domain = (frame["age"] >= request.min_age).fillna(False).to_numpy(bool).copy()
    if request.where:
        domain &= evaluate(request.where, frame).to_numpy(bool)
    for column in request.by:
        if column not in frame:
            raise ConfigError(f"--by {column}: no such column (life_stage or a column of data_clean/analytic.parquet)")
    replicates = engine.design(frame, params)
    refs = references(frame, params)
    out = []
    for number, nutrient in enumerate(request.nutrients, start=1):
        reason = unavailable_reason(frame, nutrient, cycles)
        if reason:
            if explicit:
                raise DataError(f"{nutrient.name}: {reason}")
            out.append(not_estimated(nutrient, "food", reason, span))
            continue
        total_why = total_reason(frame, nutrient, cycles) if "total" in request.sources else ""
        with_total = "total" in request.sources and not total_why
        if total_why:
            if explicit and request.sources == ["total"]:
                raise DataError(f"{nutrient.name}: {total_why}")
            out.append(not_estimated(nutrient, "total", total_why, span))
        two_part = choose_two_part(frame, nutrient, domain, request.model, params)
        log.info("adequacy: %s (%d of %d)", nutrient.name, number, len(request.nutrients))
        rows = nutrient_rows(frame, params, registry, request, nutrient, domain, refs, with_total, two_part,
                             replicates)
        rows["cycles"] = span
        out.append(rows[rows["source"].isin(request.sources)])
    result = pd.concat(out, ignore_index=True)
    result["n"] = result["n"].astype("Int64")
    return result


def nutrient_rows(frame: pd.DataFrame, params: dict, registry: Registry, request: Request, nutrient: Nutrient,
                  domain: np.ndarray, refs: dict, with_total: bool, two_part: bool, replicates) -> pd.DataFrame:
    """One nutrient's rows: one model, or (request.strata) one model per stratum, combined."""
    strata = request.strata
    if strata is None:
        p = adequacy.persons(frame, registry, nutrient, request.by, domain, refs, with_total, two_part)
        _check_size(p, nutrient, params)
        factors = replicates.factors[_rows_of(frame, p.frame)]
        full, se = adequacy.estimate(p, registry, factors, replicates, f"adequacy: {nutrient.name} on replicates")
        return adequacy.tidy(p, full, se, replicates.df, _variance(replicates))
    strata_persons, last, anyone = [], None, 0
    inner = [c for c in request.by if c != strata]
    levels = sorted(frame.loc[domain, strata].dropna().unique())
    for level in levels:
        members = domain & (frame[strata] == level).fillna(False).to_numpy(bool)
        p = adequacy.persons(frame, registry, nutrient, inner, members, refs, with_total, two_part)
        anyone += len(p.frame)
        if len(p.frame) == 0:
            continue
        if p.n_two_recalls < 3:
            log.info("adequacy: %s, %s %s: %d persons with two recalls: not estimated", nutrient.name, strata, level,
                     p.n_two_recalls)
            continue
        strata_persons.append((level, p, replicates.factors[_rows_of(frame, p.frame)]))
        last = p
    if last is None:
        raise DataError(f"{nutrient.name}: " + (f"no {strata} group has persons with two reliable recalls in the domain"
                                                 if anyone else "no one aged 1 or over in the domain has a reliable "
                                                 "day-1 recall of it"))
    estimates = adequacy.estimate_parts([(p, f) for _, p, f in strata_persons], registry,
                                        f"adequacy: {nutrient.name} on replicates")
    parts = [(level, full, dict(zip(full, reps.T)), {g: int(m.sum()) for g, m in p.groups.items()})
             for (level, p, _), (full, reps) in zip(strata_persons, estimates)]
    full, reps, counts = adequacy.combine_strata(parts, strata, request.by)
    keys = list(full)
    se = replicates.standard_error(np.array([full[k] for k in keys]), np.column_stack([reps[k] for k in keys]))
    return adequacy.tidy(last, full, se, replicates.df, _variance(replicates, strata), counts)


def _variance(replicates, strata: str | None = None) -> str:
    return (f"{replicates.method} ({replicates.factors.shape[1]} replicates, model refitted on each"
            + (f", one model per {strata}" if strata else "") + "), design df")


def _check_size(p, nutrient: Nutrient, params: dict) -> None:
    if len(p.frame) < params["analyze"]["min_domain_n"]:
        raise DataError(f"{nutrient.name}: only {len(p.frame)} persons in the domain with a reliable recall")


MODELS = ("auto", "amount", "two_part")


def choose_two_part(frame: pd.DataFrame, nutrient: Nutrient, domain: np.ndarray, model: str, params: dict) -> bool:
    """The two-part (episodic) model where asked, or (auto) where more of the day-1 recalls than
    params adequacy.two_part_above_zero_share hold none of the nutrient; else amount-only."""
    if model not in MODELS:
        raise ConfigError(f"--model {model!r}: use one of {', '.join(MODELS)}")
    if model != "auto":
        return model == "two_part"
    share = adequacy.zero_share(frame, nutrient, domain)
    chosen = share > params["adequacy"]["two_part_above_zero_share"]
    log.info("adequacy: %s: %.1f%% of day-1 recalls hold none: %s model", nutrient.name, 100 * share,
             "two-part" if chosen else "amount-only")
    return chosen


def _rows_of(frame: pd.DataFrame, persons: pd.DataFrame) -> np.ndarray:
    """Positions in `frame` of the persons (by seqn, in the persons' order)."""
    position = pd.Series(np.arange(len(frame)), index=frame["seqn"].to_numpy())
    return position.loc[persons["seqn"].to_numpy()].to_numpy()


def run(params: dict, paths) -> pd.DataFrame:
    """The pipeline's table (reports/tables/adequacy.csv): every registry nutrient, by DRI life
    stage, food and total, on params adequacy.cycles (weights re-pooled over them)."""
    from analysis.core import atomic
    from analysis.data.nutrients import load_registry
    from analysis.survey.weights import for_cycles

    p = params["adequacy"]
    registry = load_registry()
    analytic, intakes = read_inputs(paths)
    frame = frame_for(for_cycles(analytic, list(p["cycles"]), available_only=True), intakes, registry)
    request = Request(registry.select(list(p["nutrients"])), list(p["by"]), ["food", "total"])
    out = table(frame, params, registry, request)
    checks = published_checks(analytic, intakes, params, registry)
    atomic.write_csv(paths.tables / "adequacy.csv", out)
    atomic.write_csv(paths.tables / "adequacy_published.csv", checks)
    return out


def published_checks(analytic: pd.DataFrame, intakes: pd.DataFrame, params: dict, registry: Registry) -> pd.DataFrame:
    """Published NHANES usual-intake figures recomputed by this code (published_usual_intake.yaml):
    ours beside theirs, the difference and whether it is within the stated tolerance. A check
    whose cycles the files lack is reported as not run, with the reason."""
    import dataclasses
    from importlib import resources

    from analysis.core.config import load_yaml
    from analysis.survey.weights import for_cycles

    specs = load_yaml(resources.files("analysis.analyses").joinpath("published_usual_intake.yaml").read_text("utf-8"))
    present = set(analytic["cycle"].astype(str))
    rows = []
    for name, spec in specs.items():
        lacking = [c for c in spec["cycles"] if c not in present]
        if lacking:
            rows.append({"check": name, "source": spec["source"], "note": f"not run: cycles {lacking} not in the files"})
            continue
        base = registry.get(spec["nutrient"])
        variant = dataclasses.replace(base, dri={"ai": tuple(float(v) for v in spec["cutoffs"])},
                                      ul_applies_to="not_estimated", requirement="cut_point")
        frame = frame_for(for_cycles(analytic, list(spec["cycles"])), intakes, registry)
        request = Request([variant], [LIFE_STAGE], ["food", "total"], where="~pregnant")
        ours = table(frame, params, registry, request)
        ours = ours[ours["basis"] == "usual"].set_index(["source", "group", "measure"])
        tolerance = spec["tolerance"]
        for group, by_source in spec["published"].items():
            for source, (mean, share) in by_source.items():
                for measure, published, allowed, kind in [("mean", mean, tolerance["mean_relative"] * mean, "mg/day"),
                                                          ("above_ai", share, tolerance["share_points"], "share")]:
                    key = (source, group, measure)
                    estimate = float(ours.loc[key, "estimate"]) if key in ours.index else np.nan
                    rows.append({"check": name, "source": spec["source"], "nutrient": base.name, "group": group,
                                 "intake": source, "measure": "share at or above the 1997 AI" if kind == "share"
                                 else "mean usual intake", "estimate": estimate,
                                 "ci_low": ours.loc[key, "ci_low"] if key in ours.index else np.nan,
                                 "ci_high": ours.loc[key, "ci_high"] if key in ours.index else np.nan,
                                 "published": published, "difference": estimate - published, "tolerance": allowed,
                                 "agrees": bool(abs(estimate - published) <= allowed), "note": ""})
    return pd.DataFrame(rows)
