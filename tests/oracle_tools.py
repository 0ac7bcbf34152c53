"""Run the R `survey` oracle (tests/oracle/survey_oracle.R) on data and a spec from a test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ORACLE = Path(__file__).parent / "oracle" / "survey_oracle.R"
RTOL = 1e-6


def require_r() -> None:
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found: install r-base-core r-cran-survey to run the R oracle tests")
    check = subprocess.run(["Rscript", "-e", "library(survey)"], capture_output=True)
    if check.returncode != 0:
        pytest.skip("R package 'survey' not installed: apt-get install r-cran-survey")


def export(frame: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Write the columns R needs; booleans as 0/1, full float precision."""
    out = frame[columns].copy()
    for name in out.columns:
        if pd.api.types.is_bool_dtype(out[name]) or str(out[name].dtype) == "boolean":
            out[name] = out[name].astype("Float64")
    out.to_csv(path, index=False, float_format="%.17g", na_rep="NA")
    return path


def run_oracle(tmp_path: Path, data: pd.DataFrame, columns: list[str], **spec) -> pd.DataFrame:
    """spec: task, weight, domain, y, by, family, terms (list), factor/wald/lincom (lists)."""
    require_r()
    data_path = export(data, columns, tmp_path / "oracle_data.csv")
    out_path = tmp_path / "oracle_out.csv"
    rows = [("data", str(data_path)), ("out", str(out_path))]
    for key, value in spec.items():
        if value is None:
            continue
        if key == "terms":
            rows.append((key, ";".join(value)))
        elif isinstance(value, (list, tuple)):
            rows.extend((key, v) for v in value)
        else:
            rows.append((key, str(value)))
    spec_path = tmp_path / "oracle_spec.csv"
    pd.DataFrame(rows, columns=["key", "value"]).to_csv(spec_path, index=False)
    result = subprocess.run(["Rscript", str(ORACLE), str(spec_path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"R oracle failed:\n{result.stderr}")
    return pd.read_csv(out_path)


def canonical(term: str) -> str:
    return ":".join(sorted(term.split(":")))


def assert_agree(ours: pd.DataFrame, theirs: pd.DataFrame, columns=("estimate", "std_error", "ci_low", "ci_high", "df"),
                 rtol: float = RTOL) -> None:
    """Same terms, and every listed column equal to `rtol` relative."""
    a = ours.assign(key=ours["term"].map(canonical)).set_index("key").sort_index()
    b = theirs.assign(key=theirs["term"].map(canonical)).set_index("key").sort_index()
    assert list(a.index) == list(b.index), f"terms differ: {list(a.index)} vs {list(b.index)}"
    for column in columns:
        x = a[column].to_numpy(dtype=float)
        y = b[column].to_numpy(dtype=float)
        if column == "p_value":
            # Tail areas such as 1e-30 amplify the last digits of t a thousandfold; p-values
            # are compared as -log10(p), where 1e-6 relative still means "the same p".
            x, y = -np.log10(x), -np.log10(y)
        both_nan = np.isnan(x) & np.isnan(y)
        np.testing.assert_allclose(x[~both_nan], y[~both_nan], rtol=rtol, atol=0,
                                   err_msg=f"column {column} differs from R survey")
