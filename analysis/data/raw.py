"""Read data_raw/ into one harmonized frame per cycle: the catalog's variables, its renames
and its special codes applied, nothing derived yet."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import xpt
from analysis.data.readers import reader_for
from analysis.data.catalog import Catalog
from analysis.core.errors import DataError
from analysis.data.fetch import RECORDED, VERIFIED, read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawInventory:
    """What data_raw/ holds: available files and the components each cycle lacks."""

    manifest: pd.DataFrame

    @classmethod
    def load(cls, data_raw: Path) -> "RawInventory":
        path = data_raw / "MANIFEST.tsv"
        if not path.exists():
            raise DataError(f"{path}: not found; run the fetch stage first")
        return cls(read_manifest(path))

    @property
    def cycles(self) -> list[str]:
        return sorted(self.manifest["cycle"].unique())

    def available(self, cycle: str, component: str) -> bool:
        rows = self.manifest[(self.manifest["cycle"] == cycle) & (self.manifest["component"] == component)]
        return bool(len(rows)) and rows["status"].isin([VERIFIED, RECORDED]).all()

    def missing_files(self) -> pd.DataFrame:
        """Files the analyses could not get, with the reason (absent in cycle or at the source)."""
        return self.manifest[~self.manifest["status"].isin([VERIFIED, RECORDED])][
            ["cycle", "file", "component", "status"]
        ]


@dataclass
class ReadCounts:
    """What reading changed, for the data-rules table: values CDC stored as SAS's tiny
    underflow and read as 0, and special codes (refused, don't know) made missing, each
    keyed by (rule, variable, cycle)."""

    counts: Counter = field(default_factory=Counter)

    def add(self, rule: str, variable: str, cycle: str, n: int) -> None:
        self.counts[(rule, variable, cycle)] += int(n)

    def table(self) -> pd.DataFrame:
        rows = [{"rule": r, "variable": v, "cycle": c, "n": n} for (r, v, c), n in sorted(self.counts.items())]
        return pd.DataFrame(rows, columns=["rule", "variable", "cycle", "n"])


def read_component(path: Path, catalog: Catalog, cycle: str, component: str, sas_zero_epsilon: float,
                   counts: ReadCounts | None = None) -> pd.DataFrame:
    """One file as a frame with harmonized variable names and special codes made missing
    (what changed is added to `counts`)."""
    counts = ReadCounts() if counts is None else counts
    spec = catalog.components[component]
    renames = spec.renames_for(cycle)
    reader = reader_for(spec)
    present = set(reader.column_names(path))
    to_harmonized = {name: renames.get(name, name) for name in present}
    harmonized_present = set(to_harmonized.values())
    missing = [v for v in spec.required_in(cycle) if v not in harmonized_present]
    if missing:
        raise DataError(
            f"{path}: required variable(s) {missing} not found (cycle {cycle}, component {component}); "
            f"the file has {sorted(present)[:12]}{'...' if len(present) > 12 else ''}"
        )
    wanted = set(spec.variables) | set(spec.optional)
    columns = sorted(name for name, target in to_harmonized.items() if target in wanted)
    frame = reader.read(path, columns).rename(columns=to_harmonized)
    text = frame[[c for c in frame.columns if c in spec.text]].astype("string")
    frame = frame.drop(columns=list(text.columns))
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise DataError(
                f"{path}: variable {name} holds text, expected numbers "
                f"(cycle {cycle}, component {component}); examples: {frame[name].dropna().head(3).tolist()}"
            )
    frame = frame.astype(np.float64)
    for name in frame.columns:
        counts.add("sas_underflow_zero", name, cycle, ((frame[name] != 0) & (frame[name].abs() < sas_zero_epsilon)).sum())
    frame = xpt.zero_sas_underflow(frame, sas_zero_epsilon)
    for name, codes in spec.missing_codes.items():
        if name in frame:
            special = frame[name].isin(codes)
            counts.add("special_code_missing", name, cycle, special.sum())
            frame[name] = frame[name].mask(special)
    frame = pd.concat([frame, text], axis=1)[[c for c in columns_in_order(columns, to_harmonized)]]
    if spec.rows == "person" and frame["SEQN"].duplicated().any():
        dups = frame.loc[frame["SEQN"].duplicated(), "SEQN"].astype(int).head(5).tolist()
        raise DataError(f"{path}: duplicated SEQN {dups} (cycle {cycle}, component {component})")
    return frame


def columns_in_order(columns: list[str], to_harmonized: dict[str, str]) -> list[str]:
    return [to_harmonized[c] for c in columns]


def merge_cycle(parts: dict[str, pd.DataFrame], cycle: str) -> pd.DataFrame:
    """Left-join every component onto DEMO by SEQN.

    A variable carried by two files (e.g. WTDRD1 in DR1TOT and DS1TOT) is taken from the
    first file that has a value, in catalog order.
    """
    if "DEMO" not in parts:
        raise DataError(f"cycle {cycle}: DEMO is not available, so the cycle has no participants or design")
    merged = parts["DEMO"].copy()
    for component, frame in parts.items():
        if component == "DEMO":
            continue
        orphans = ~frame["SEQN"].isin(merged["SEQN"])
        if orphans.any():
            raise DataError(
                f"cycle {cycle}, component {component}: {int(orphans.sum())} SEQN not in DEMO "
                f"(e.g. {frame.loc[orphans, 'SEQN'].astype(int).head(3).tolist()})"
            )
        shared = [c for c in frame.columns if c != "SEQN" and c in merged.columns]
        renamed = frame.rename(columns={c: f"{c}__{component}" for c in shared})
        merged = merged.merge(renamed, on="SEQN", how="left", validate="one_to_one")
        for c in shared:
            merged[c] = merged[c].combine_first(merged.pop(f"{c}__{component}"))
    return pd.concat([pd.Series(cycle, index=merged.index, name="cycle"), merged], axis=1)


def expected_variables(catalog: Catalog, components: list[str]) -> list[str]:
    names: list[str] = []
    for component in components:
        spec = catalog.components[component]
        if spec.rows != "person":
            continue
        for name in (*spec.variables, *spec.optional):
            if name not in names:
                names.append(name)
    return names


def read_all(data_raw: Path, catalog: Catalog, components: list[str], sas_zero_epsilon: float,
             counts: ReadCounts | None = None) -> tuple[pd.DataFrame, RawInventory]:
    """All cycles stacked; variables of components absent in a cycle are missing (NaN), not 0."""
    inventory = RawInventory.load(data_raw)
    counts = ReadCounts() if counts is None else counts
    frames = []
    person = [c for c in components if catalog.components[c].rows == "person"]
    for cycle in inventory.cycles:
        if not any(inventory.available(cycle, component) for component in person):
            continue  # e.g. 1999-2000/, which holds only CDC's supplement database
        parts = {}
        for component in person:
            if inventory.available(cycle, component):
                path = data_raw / cycle / catalog.data_file(cycle, component).name
                parts[component] = read_component(path, catalog, cycle, component, sas_zero_epsilon, counts)
        frames.append(merge_cycle(parts, cycle))
    stacked = pd.concat(frames, ignore_index=True)
    absent = [name for name in expected_variables(catalog, components) if name not in stacked]
    stacked = stacked.reindex(columns=[*stacked.columns, *absent])  # missing (NaN), in one step
    return stacked, inventory


def read_products(data_raw: Path, catalog: Catalog, component: str, sas_zero_epsilon: float,
                  counts: ReadCounts | None = None) -> dict[str, pd.DataFrame]:
    """A component with several rows per participant (rows: product), by cycle: the cycles
    in which data_raw/ holds it (none when it was not fetched)."""
    inventory = RawInventory.load(data_raw)
    out = {}
    for cycle in inventory.cycles:
        if inventory.available(cycle, component):
            path = data_raw / cycle / catalog.data_file(cycle, component).name
            out[cycle] = read_component(path, catalog, cycle, component, sas_zero_epsilon, counts)
    return out


def read_database(data_raw: Path, catalog: Catalog, component: str, sas_zero_epsilon: float) -> pd.DataFrame | None:
    """A database file (rows: database), or None when data_raw/ does not hold it."""
    item = catalog.data_file("", component)
    if not RawInventory.load(data_raw).available(item.cycle, component):
        return None
    return read_component(data_raw / item.relpath, catalog, item.cycle, component, sas_zero_epsilon)
