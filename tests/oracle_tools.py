"""Run the R `survey` oracle (tests/oracle/survey_oracle.R) on data and a spec from a test."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ORACLE = Path(__file__).parent / "oracle" / "survey_oracle.R"
RTOL = 1e-6


@functools.lru_cache(maxsize=1)
def r_missing() -> str | None:
    """Why the R oracle cannot run here (None: it can); asked once per session."""
    if shutil.which("Rscript") is None:
        return "Rscript not found: install r-base-core r-cran-survey r-cran-mitools to run the R oracle tests"
    check = subprocess.run(["Rscript", "-e", "library(survey); library(mitools)"], capture_output=True)
    if check.returncode != 0:
        return "R packages 'survey' and 'mitools' not installed: apt-get install r-cran-survey r-cran-mitools"
    return None


def require_r() -> None:
    if r_missing():
        pytest.skip(r_missing())


def export(frame: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """Write the columns R needs; booleans as 0/1, full float precision."""
    out = frame[columns].copy()
    for name in out.columns:
        if pd.api.types.is_bool_dtype(out[name]) or str(out[name].dtype) == "boolean":
            out[name] = out[name].astype("Float64")
    out.to_csv(path, index=False, float_format="%.17g", na_rep="NA")
    return path


class _Worker:
    """One R process for the whole test session (R and the survey package load once, not per test)."""

    process: subprocess.Popen | None = None

    @classmethod
    def ask(cls, spec_path: Path) -> None:
        if cls.process is None or cls.process.poll() is not None:
            cls.process = subprocess.Popen(["Rscript", str(ORACLE), "--worker"], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
            atexit.register(cls.process.kill)
        cls.process.stdin.write(f"{spec_path}\n")
        cls.process.stdin.flush()
        answer = cls.process.stdout.readline().strip()
        if answer != "ok":
            raise AssertionError(f"R oracle failed: {answer or cls.process.stderr.read()}")


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
    _Worker.ask(spec_path)
    return pd.read_csv(out_path)


def log_scale_ci(estimate: float, se: float, df: float) -> tuple[float, float]:
    """A positive total's 95% CI on the log scale from R's estimate, SE and df: T·exp(±t·SE/T)."""
    from scipy import stats

    half = stats.t.ppf(0.975, df) * se / estimate
    return estimate * np.exp(-half), estimate * np.exp(half)


def assert_total_agrees(ours: pd.DataFrame, r: pd.DataFrame) -> None:
    """Estimate, SE and df equal R's svytotal; the CI is R's on the log scale (it stays positive)."""
    np.testing.assert_allclose(ours[["estimate", "std_error", "df"]].to_numpy(dtype=float),
                               r[["estimate", "std_error", "df"]].to_numpy(dtype=float), rtol=RTOL)
    for (_, mine), (_, theirs) in zip(ours.iterrows(), r.iterrows()):
        low, high = log_scale_ci(theirs["estimate"], theirs["std_error"], theirs["df"])
        assert mine["ci_low"] == pytest.approx(low, rel=RTOL) and mine["ci_high"] == pytest.approx(high, rel=RTOL)


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
