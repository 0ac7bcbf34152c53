"""Find and explain variables offline: `search` (a regex over every variable's name and label in
the downloaded files, the catalog and the analytic dictionary) and `describe` (one column's
definition, sources, rule, weight, counts by cycle, distribution and special codes).

Labels come from the files themselves (CDC's SAS transport files carry them); files without
labels (the mirror's converted files, the fixed-width mortality files) fall back to the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyreadstat

from analysis.survey import weights
from analysis.data import xpt
from analysis.data.catalog import load_catalog
from analysis.clean.dictionary import load_dictionary
from analysis.core.config import Paths, project_root
from analysis.core.errors import ConfigError, DataError
from analysis.data.fetch import RECORDED, VERIFIED, read_manifest

SEARCH_COLUMNS = ["where", "name", "label", "file"]


def compile_pattern(text: str) -> re.Pattern:
    if not text.strip():
        raise ConfigError("search: give a word or regular expression, e.g. `search magnesium` or `search '^DR1T'`")
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"search {text!r}: not a valid regular expression ({exc}); quote it, or escape "
                          "special characters such as ( [ * with a backslash") from None


def file_labels(root: str | Path | None) -> pd.DataFrame:
    """Every variable of every downloaded file with its label (the catalog's description of the
    file where the file has no labels)."""
    paths = Paths(project_root(root))
    manifest = read_manifest(paths.raw_manifest)
    if manifest.empty:
        raise DataError(f"{paths.raw_manifest}: not found; run the fetch stage first (`dvc repro`)")
    catalog = load_catalog()
    rows = []
    for r in manifest[manifest["status"].isin([VERIFIED, RECORDED])].itertuples():
        component = catalog.components.get(r.component)
        path = paths.data_raw / r.cycle / r.file
        if component is None or not path.exists():
            continue
        if component.format == "xpt":
            _, meta = pyreadstat.read_xport(str(path), metadataonly=True, encoding=xpt.ENCODING)
            labels = dict(zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)))
        else:
            labels = {name: None for name in component.layout}
        for name, label in labels.items():
            if not label and name in component.labels:
                label = f"{component.labels[name]} (label from CDC's documentation; none in the file)"
            rows.append({"where": f"file ({r.cycle})", "name": name, "label": label or None, "file": r.file,
                         "description": component.description})
    table = pd.DataFrame(rows, columns=SEARCH_COLUMNS + ["description"])
    table["label"] = borrowed_labels(table)
    return table[SEARCH_COLUMNS]


# Day-2 files carry the day-1 file's variables under a day-2 prefix (CDC: DR1TOT's codes and
# labels hold for DR2TOT; DS1TOT's for DS2TOT).
DAY2_PREFIXES = {"DR2": "DR1", "DS2": "DS1"}


def borrowed_labels(table: pd.DataFrame) -> pd.Series:
    """Each variable's label; for a file without labels (the mirror's CSV-converted files, the
    fixed-width mortality files), the label CDC gives the same variable in another file or cycle,
    else that of its day-1 counterpart, else the catalog's description of the file; each borrowed
    label says where it came from."""
    known = table.dropna(subset=["label"]).drop_duplicates("name").set_index("name")
    out = []
    for r in table.itertuples():
        if isinstance(r.label, str) and r.label:
            out.append(r.label)
            continue
        day1 = DAY2_PREFIXES.get(r.name[:3], "") + r.name[3:] if r.name[:3] in DAY2_PREFIXES else None
        if r.name in known.index:
            out.append(f"{known.at[r.name, 'label']} (label from {known.at[r.name, 'file']}; none in this file)")
        elif day1 in known.index:
            out.append(f"{known.at[day1, 'label']} [day 2] (label of {day1} in {known.at[day1, 'file']}; none in "
                       "this file)")
        else:
            out.append(f"(no label in the file) {r.description}")
    return pd.Series(out, index=table.index, dtype=object)


def catalog_entries() -> pd.DataFrame:
    rows = []
    for component in load_catalog().components.values():
        for name in (*component.variables, *component.optional):
            rows.append({"where": "catalog", "name": name, "label": component.description,
                         "file": f"{component.name} ({component.format})"})
    return pd.DataFrame(rows, columns=SEARCH_COLUMNS)


def dictionary_entries() -> pd.DataFrame:
    table = load_dictionary()
    return pd.DataFrame({"where": "analytic table", "name": table["column"],
                         "label": table["description"] + " [" + table["source"] + "]", "file": table["file"]},
                        columns=SEARCH_COLUMNS)


def cycles_text(cycles: list[str]) -> str:
    return f"files, {cycles[0]}" if len(cycles) == 1 else f"files, {len(cycles)} cycles {cycles[0][:4]}-{cycles[-1][-4:]}"


def search(text: str, root: str | Path | None = None) -> pd.DataFrame:
    """Variables whose name or label matches `text` (case-insensitive regex): analytic columns
    first, then the catalog, then the files (one row per variable and label, cycles listed)."""
    pattern = compile_pattern(text)
    files = file_labels(project_root(root))
    if len(files):  # one row per variable and label across cycles
        files = (files.groupby(["name", "label"], sort=False)
                 .agg(where=("where", lambda w: cycles_text(sorted(v[6:-1] for v in w))),
                      file=("file", lambda f: ", ".join(sorted(set(f))))).reset_index()[SEARCH_COLUMNS])
    catalog = catalog_entries().drop_duplicates(["name", "file"])
    table = pd.concat([dictionary_entries(), catalog, files], ignore_index=True)
    hit = table["name"].str.contains(pattern) | table["label"].fillna("").str.contains(pattern)
    return table[hit].reset_index(drop=True)


@dataclass
class Description:
    column: str
    lines: list[str]
    by_cycle: pd.DataFrame
    summary: pd.DataFrame

    def text(self) -> str:
        if self.by_cycle.empty:
            return "\n".join(self.lines)
        return "\n".join(self.lines) + "\n\nby cycle:\n" + self.by_cycle.to_string(index=False) + \
            "\n\ndistribution (participants with a value, unweighted):\n" + self.summary.to_string(index=False)


def describe(column: str, root: str | Path | None = None) -> Description:
    """What a column of the analytic table (or usual_intake.parquet) is, where it comes from, and
    what it holds: counts and missing by cycle, and a distribution summary."""
    from analysis.commands import estimate  # the loaded table with the analysis-time columns

    dictionary = load_dictionary().set_index("column")
    root = project_root(root)
    frame = estimate.load(root)
    if column not in dictionary.index or column not in frame:
        raw_hits = search(f"^{re.escape(column)}$", root)
        if len(raw_hits):
            users = dictionary[dictionary["source"].str.contains(rf"\b{re.escape(column)}\b", regex=True)].index.tolist()
            files = raw_hits[raw_hits["where"].str.startswith("files")]
            lines = [f"{column}: a CDC variable, not a column of the analytic table",
                     *(f"  label: {r.label} ({r.where}: {r.file})" for r in files.itertuples()),
                     f"  analytic columns made from it: {', '.join(users) or 'none'}"
                     + (f" (`describe {users[0]}` explains one)" if users else "")]
            return Description(column, lines, pd.DataFrame(), pd.DataFrame())
        from analysis.survey import query

        raise query.unknown_column(column, list(dictionary.index))
    entry = dictionary.loc[column]
    weight, reason = weights.weight_for([column])
    sources = re.findall(r"\b[A-Z][A-Z0-9]{3,}\b", entry["source"])
    catalog = load_catalog()
    codes = []
    for component in catalog.components.values():
        for name in sources:
            if name in component.missing_codes:
                codes.append(f"{name}: {', '.join(f'{c:g}' for c in component.missing_codes[name])} read as missing")
    lines = [f"{column}: {entry['description']}",
             f"  unit: {entry['unit'] or '-'}",
             f"  source: {entry['source']}",
             f"  rule: {entry['rule']}",
             f"  file: data_clean/{entry['file']}",
             f"  sample: {entry['sample']}; weight for estimates: {weight} ({reason})",
             "  special codes: " + ("; ".join(codes) if codes else "none for its source variables")]
    values = frame[column]
    by_cycle = pd.DataFrame({"cycle": frame["cycle"], "has": values.notna()}).groupby("cycle")["has"].agg(
        n="sum", missing=lambda h: int((~h).sum())).reset_index()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        quantiles = values.dropna().quantile([0, 0.05, 0.25, 0.5, 0.75, 0.95, 1])
        summary = pd.DataFrame({"statistic": ["min", "p5", "p25", "median", "p75", "p95", "max", "mean"],
                                "value": list(quantiles) + [values.mean()]})
    else:
        counts = values.astype("string").value_counts(dropna=True)
        summary = pd.DataFrame({"value": counts.index.astype(str), "n": counts.to_numpy()}).head(20)
    return Description(column, lines, by_cycle, summary)
