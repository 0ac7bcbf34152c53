"""`python -m analysis adequacy`: usual intake and the prevalence of inadequacy for any
nutrients of the registry, in any groups, cycles and domain (analysis/analyses/adequacy.py).

Refuses rather than answers wrongly: an unknown nutrient, a nutrient or supplement amount the
chosen cycles do not carry, a grouping column with numbers or too many levels, a domain too
small for the model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.analyses import adequacy as build
from analysis.core.config import Paths, load_params, project_root
from analysis.core.errors import ConfigError
from analysis.data.nutrients import load_registry
from analysis.survey import query
from analysis.survey.weights import for_cycles

SOURCES = ("food", "total")
MAX_GROUPS = 40


@dataclass
class Adequacy:
    question: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        shown = self.table[self.table["measure"] != "not_estimated"].copy()
        share = shown["unit"] == "proportion"
        fmt = lambda v, s: "" if pd.isna(v) else (f"{100 * v:.1f}%" if s else f"{v:.4g}")  # noqa: E731
        for column in ("estimate", "ci_low", "ci_high"):
            shown[column] = [fmt(v, s) for v, s in zip(shown[column], share)]
        shown["95% CI"] = shown["ci_low"] + " to " + shown["ci_high"]
        shown["std_error"] = [fmt(v, s) for v, s in zip(shown["std_error"], share)]
        columns = ["nutrient", "source", "basis", "group", "measure", "estimate", "95% CI", "std_error", "n", "unit",
                   "reliability"]
        skipped = self.table[self.table["measure"] == "not_estimated"]
        lines = [self.question] + self.notes + [f"{r.nutrient} ({r.source}): {r.note}" for r in skipped.itertuples()]
        return "\n".join(lines) + "\n\n" + (shown[columns].to_string(index=False) if len(shown) else "(no estimates)")

    def json(self) -> str:
        return json.dumps({"question": self.question, "notes": self.notes,
                           "rows": json.loads(self.table.to_json(orient="records"))}, indent=2)


def adequacy(nutrients: list[str], by: list[str] | tuple = ("life_stage",), cycles: list[str] | tuple = (),
             where: str | None = None, source: str | None = None, root: str | Path | None = None,
             day1: bool = True, model: str = "auto") -> Adequacy:
    """Usual intake (mean, percentiles) and shares below the EAR / above the AI / above the UL,
    per nutrient, source and group; `source` food, total or None (both); `day1`: with the one-day
    sensitivity rows."""
    registry = load_registry()
    chosen = registry.select(list(nutrients))
    if source is not None and source not in SOURCES:
        raise ConfigError(f"--source {source!r}: use food or total")
    paths = Paths(project_root(root))
    params = load_params(paths.params)
    analytic, intakes = build.read_inputs(paths)
    cycles = list(cycles) or list(params["adequacy"]["cycles"])
    frame = build.frame_for(for_cycles(analytic, cycles), intakes, registry)
    by = list(by)
    for column in by:
        if column not in frame:
            raise ConfigError(f"--by {column}: no such column (life_stage, or a column of data_clean/dictionary.csv)")
        if not (pd.api.types.is_string_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])):
            raise ConfigError(f"--by {column}: holds numbers; group by a categorical column (e.g. age_group, not age)")
        if frame[column].nunique() > MAX_GROUPS:
            raise ConfigError(f"--by {column}: {frame[column].nunique()} levels (at most {MAX_GROUPS})")
    if where:
        unknown = [c for c in query.columns_of(where) if c not in frame]
        if unknown:
            raise query.unknown_column(unknown[0], list(frame.columns))
    sources = [source] if source else list(SOURCES)
    request = build.Request(chosen, by, sources, where, model=model)
    table = build.table(frame, params, registry, request, explicit=list(nutrients) != ["all"])
    if not day1:
        table = table[table["basis"] != "day1"].reset_index(drop=True)
    question = (f"usual intake and adequacy of {', '.join(n.name for n in chosen)}"
                f" by {', '.join(by) if by else 'nothing (everyone)'}; cycles {', '.join(sorted(set(cycles)))}"
                + (f"; domain {where}" if where else "") + "; ages 1 and over with a reliable day-1 recall")
    notes = ["usual intake: NCI measurement-error model (amount-only, or two-part where many recall days hold none: "
             "each row's method says which) with the groups as covariates; total = usual food intake + the person's "
             "usual supplement intake (30-day questionnaire; shrink then add)",
             "variance: the model refitted on every replicate (jackknife, design df); shares' CIs on the logit scale",
             "basis day1: one day's recall, a sensitivity row (its spread includes day-to-day variation)",
             "one model per DRI life stage: a group spanning several (e.g. sex=female) gets means and shares as their "
             "weighted combination but no percentiles (a mixture's percentile is no weighted mean); --by life_stage "
             "gives each stage's percentiles"]
    return Adequacy(question, table, notes)
