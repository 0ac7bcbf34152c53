"""The clean stage: data_raw/ -> data_clean/analytic.parquet, dictionary.csv, reports/tables/flow.csv.

The analytic table holds the analysis-time columns too (outcome flags, dose units, intake
groups: analysis/clean/features.py), so every later stage and command reads the same ones.

Every DEMO participant of every fetched cycle stays in the table (domains need the full
design); who is in which analysis is said by the in_* flags and counted in the flow table.
"""

from __future__ import annotations

import logging
import pandas as pd

from analysis.core import atomic
from analysis.clean import data_rules, derive, domains, features, nutrient_intakes, thirty_day_totals
from analysis.data import raw
from analysis.clean import validate
from analysis.data.catalog import load_catalog
from analysis.data.nutrients import load_registry
from analysis.core.config import Paths
from analysis.clean.dictionary import ANALYTIC_FILE, load_dictionary, undocumented
from analysis.core.errors import DataError

log = logging.getLogger(__name__)


def build(raw_frame: pd.DataFrame, params: dict, read_counts: raw.ReadCounts | None = None,
          product_counts: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Analytic frame (sorted by cycle, seqn), flow table and data-rules table from the
    harmonized raw frame (`read_counts`: what reading it changed; `product_counts`: the
    rules of the computed 30-day supplement totals)."""
    analytic = derive.derive(raw_frame, params["clean"], load_catalog().units())
    analytic, flow = domains.add_flags(analytic, params)
    analytic = features.add(analytic, params)  # the analysis-time columns, made once here
    rules = data_rules.table(raw_frame, analytic, read_counts or raw.ReadCounts(), product_counts)
    analytic = analytic.sort_values(["cycle", "seqn"], kind="stable").reset_index(drop=True)
    return analytic, flow, rules


def run(params: dict, paths: Paths) -> pd.DataFrame:
    catalog = load_catalog()
    components = list(params["fetch"]["components"])
    read_counts = raw.ReadCounts()
    epsilon = params["clean"]["sas_zero_epsilon"]
    raw_frame, inventory = raw.read_all(paths.data_raw, catalog, components, epsilon, read_counts)
    log.info("clean: %d participants in %d cycles", len(raw_frame), raw_frame["cycle"].nunique())
    products = raw.read_products(paths.data_raw, catalog, "DSQ2", epsilon, read_counts) if "DSQ2" in components else {}
    database = {name: raw.read_database(paths.data_raw, catalog, name, epsilon) if name in components else None
                for name in ("DSPI", "DSII")}
    totals, product_counts = thirty_day_totals.compute(products, database["DSPI"], database["DSII"])
    if products:
        log.info("clean: 30-day supplement totals computed for %s from %d products reported",
                 ", ".join(sorted(products)), sum(len(p) for p in products.values()))
    raw_frame = thirty_day_totals.fill(raw_frame, totals)
    analytic, flow, rules = build(raw_frame, params, read_counts, product_counts)

    dictionary = load_dictionary()
    missing = undocumented(analytic, ANALYTIC_FILE)
    if missing:
        raise DataError(f"analysis/clean/dictionary.yaml: column(s) {missing} are not documented")
    analytic = analytic[[c for c in dictionary["column"] if c in analytic.columns]]
    validate.validate(analytic, params["clean"]["ranges"], str(paths.analytic))

    atomic.write_parquet(paths.analytic, analytic)
    intakes = nutrient_intakes.build(raw_frame, load_registry()).sort_values(["cycle", "seqn"], kind="stable")
    atomic.write_parquet(paths.data_clean / nutrient_intakes.FILE, intakes.reset_index(drop=True))
    atomic.write_csv(paths.dictionary, dictionary)
    atomic.write_csv(paths.tables / "flow.csv", flow)
    atomic.write_csv(paths.tables / "data_rules.csv", rules)
    missing = inventory.missing_files()
    if len(missing):
        log.info("clean: %d catalogued file(s) unavailable: %s", len(missing),
                 ", ".join(f"{r.cycle}/{r.file} ({r.status})" for r in missing.itertuples()))
    for row in flow[flow["flow"] == "main"].itertuples():
        log.info("flow main %d %-16s remaining %6d excluded %6d", row.step, row.criterion, row.n_remaining, row.n_excluded)
    return analytic
