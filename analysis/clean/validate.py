"""Validate the analytic table before it is written; failures name column, cycle and examples."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from analysis.core.errors import DataError


def _schema(ranges: dict[str, list[float]]) -> pa.DataFrameSchema:
    def in_range(name: str) -> list[pa.Check]:
        low, high = ranges[name]
        return [pa.Check.in_range(low, high)] if name in ranges else []

    nonneg = [pa.Check.ge(0)]
    return pa.DataFrameSchema(
        {
            "seqn": pa.Column("int64", unique=True),
            "cycle": pa.Column("string"),
            "sdmvstra": pa.Column("int64"),
            "sdmvpsu": pa.Column("int64"),
            "wt_int": pa.Column(float, nonneg),
            "wt_mec": pa.Column(float, nonneg),
            "wt_day1": pa.Column(float, nonneg),
            "wt_day2": pa.Column(float, nonneg),
            "age": pa.Column(float, in_range("age")),
            "sex": pa.Column("string", pa.Check.isin(["male", "female"]), nullable=True),
            "bmi": pa.Column(float, in_range("bmi"), nullable=True),
            "kcal": pa.Column(float, in_range("kcal"), nullable=True),
            "vitd_serum_nmol": pa.Column(float, in_range("vitd_serum_nmol"), nullable=True),
            "femneck_bmd": pa.Column(float, in_range("femneck_bmd"), nullable=True),
            "crp_mg_l": pa.Column(float, in_range("crp_mg_l"), nullable=True),
            "aac24_score": pa.Column(float, in_range("aac24_score"), nullable=True),
            "mg_food_mg": pa.Column(float, nonneg, nullable=True),
            "mg_supp_mg": pa.Column(float, nonneg, nullable=True),
            "vitd_supp_ug": pa.Column(float, nonneg, nullable=True),
            "season": pa.Column("string", pa.Check.isin(["nov_apr", "may_oct"]), nullable=True),
        },
        strict=False,
        coerce=False,
    )


def _examples(frame: pd.DataFrame, failures: pd.DataFrame) -> str:
    lines = []
    for (column, check), group in failures.groupby(["column", "check"], dropna=False, sort=True):
        index = group["index"].dropna()
        cycles = sorted(frame.loc[index.astype(int), "cycle"].dropna().unique()) if len(index) else []
        seqns = frame.loc[index.astype(int), "seqn"].head(3).tolist() if len(index) else []
        values = group["failure_case"].head(3).tolist()
        lines.append(f"column {column}: fails {check} in {len(group)} row(s), cycle(s) {cycles}; "
                     f"examples SEQN {seqns} values {values}")
    return "; ".join(lines)


def check_design(frame: pd.DataFrame, path: str) -> None:
    """Every stratum has >= 2 PSUs and belongs to one cycle (pooled strata must not collide)."""
    psus = frame.groupby("sdmvstra")["sdmvpsu"].nunique()
    lonely = psus[psus < 2]
    if len(lonely):
        cycles = sorted(frame.loc[frame["sdmvstra"].isin(lonely.index), "cycle"].unique())
        raise DataError(f"{path}: stratum(s) {lonely.index.tolist()[:5]} have a single PSU (cycle(s) {cycles})")
    cycles_per_stratum = frame.groupby("sdmvstra")["cycle"].nunique()
    shared = cycles_per_stratum[cycles_per_stratum > 1]
    if len(shared):
        raise DataError(f"{path}: stratum number(s) {shared.index.tolist()[:5]} occur in more than one cycle")


def validate(frame: pd.DataFrame, ranges: dict[str, list[float]], path: str) -> None:
    try:
        _schema(ranges).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataError(f"{path}: validation failed: {_examples(frame, exc.failure_cases)}") from exc
    check_design(frame, path)
