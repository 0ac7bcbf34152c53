"""Bad input: every case stops with a clear error naming file, variable and problem, and the
outputs of the last good run stay exactly as they were."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.clean import stage as clean
from analysis.core import config
from analysis.data import fetch
from analysis.core.errors import ConfigError, DataError
from analysis.survey.design import SurveyData
from tests.conftest import write_xpt

CYCLE = "2017-2018"


def demo(n: int = 48, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "SEQN": np.arange(1, n + 1, dtype=float), "RIDSTATR": 2.0, "RIAGENDR": rng.integers(1, 3, n).astype(float),
        "RIDAGEYR": rng.integers(20, 80, n).astype(float), "RIDRETH1": rng.integers(1, 6, n).astype(float),
        "RIDEXMON": rng.integers(1, 3, n).astype(float), "WTINT2YR": rng.uniform(1e3, 5e4, n),
        "WTMEC2YR": rng.uniform(1e3, 5e4, n), "SDMVPSU": np.tile([1.0, 2.0], n // 2),
        "SDMVSTRA": np.repeat([150.0, 151.0], n // 2), "RIDEXPRG": 2.0, "DMDEDUC2": 3.0, "INDFMPIR": 2.0,
    })


def build_raw(root: Path, frames: dict[str, pd.DataFrame] | None = None) -> Path:
    """A minimal data_raw/ for one cycle: DEMO, VID, BMX (others absent at source)."""
    base = demo()
    frames = frames or {
        "DEMO_J.XPT": base,
        "VID_J.XPT": pd.DataFrame({"SEQN": base["SEQN"], "LBXVIDMS": np.linspace(20, 120, len(base))}),
        "BMX_J.XPT": pd.DataFrame({"SEQN": base["SEQN"], "BMXBMI": np.linspace(19, 40, len(base))}),
    }
    rows = []
    for name, frame in frames.items():
        path = root / "data_raw" / CYCLE / name
        if isinstance(frame, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(frame)
        else:
            write_xpt(path, frame, name[:-4])
        rows.append({"cycle": CYCLE, "file": name, "component": name.split("_")[0], "status": fetch.VERIFIED,
                     "bytes": "", "sha256": "", "rows": "", "cols": "", "source": "test", "provenance": "test",
                     "retrieved_at": ""})
    fetch.write_manifest(root / "data_raw/MANIFEST.tsv", rows)
    return root


def run_clean(project: Path) -> None:
    params = config.load_params(project / "params.yaml")
    config.check_params(params)
    clean.run(params, config.Paths(project))


def outputs(project: Path) -> dict[str, str]:
    files = [project / "data_clean/analytic.parquet", project / "data_clean/dictionary.csv",
             project / "reports/tables/flow.csv"]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture
def good(project) -> Path:
    build_raw(project)
    run_clean(project)
    return project


def replace_file(project: Path, name: str, content) -> None:
    path = project / "data_raw" / CYCLE / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_xpt(path, content, name[:-4])


def test_good_minimal_input_builds(good):
    analytic = pd.read_parquet(good / "data_clean/analytic.parquet")
    assert len(analytic) == 48 and analytic["mg_total_mg"].isna().all()


@pytest.mark.parametrize("case,expected", [
    ("corrupted", r"VID_J.XPT: (cannot be read as SAS transport|not a SAS transport file)"),
    ("truncated", r"VID_J.XPT: cannot be read as SAS transport"),
    ("html", r"VID_J.XPT: an HTML page, not a SAS transport file"),
    ("drift", r"VID_J.XPT: required variable\(s\) \['LBXVIDMS'\] not found \(cycle 2017-2018, component VID\)"),
    ("type", r"BMX_J.XPT: variable BMXBMI holds text, expected numbers \(cycle 2017-2018, component BMX\); examples: \['27.5'"),
    ("duplicate", r"VID_J.XPT: duplicated SEQN \[3\] \(cycle 2017-2018, component VID\)"),
    ("range", r"column vitd_serum_nmol: fails .*in_range.* cycle\(s\) \['2017-2018'\]; examples SEQN \[1\] values \[9000.0\]"),
    ("lonely", r"stratum\(s\) \[151\] have a single PSU \(cycle\(s\) \['2017-2018'\]\)"),
])
def test_bad_file_is_rejected_and_previous_outputs_survive(good, case, expected):
    before = outputs(good)
    vid = good / "data_raw" / CYCLE / "VID_J.XPT"
    base = demo()
    if case == "corrupted":
        data = bytearray(vid.read_bytes())
        data[400:1200] = b"\x00\xff" * 400
        replace_file(good, "VID_J.XPT", bytes(data))
    elif case == "truncated":
        replace_file(good, "VID_J.XPT", vid.read_bytes()[:900])
    elif case == "html":
        replace_file(good, "VID_J.XPT", b"<!DOCTYPE html><html><body>Page Not Found</body></html>")
    elif case == "drift":
        replace_file(good, "VID_J.XPT", pd.DataFrame({"SEQN": base["SEQN"], "LBXVIDXX": 50.0}))
    elif case == "type":
        replace_file(good, "BMX_J.XPT", pd.DataFrame({"SEQN": base["SEQN"], "BMXBMI": ["27.5"] * len(base)}))
    elif case == "duplicate":
        replace_file(good, "VID_J.XPT", pd.DataFrame({"SEQN": [1.0, 2.0, 3.0, 3.0], "LBXVIDMS": [50.0] * 4}))
    elif case == "range":
        replace_file(good, "VID_J.XPT", pd.DataFrame({"SEQN": base["SEQN"], "LBXVIDMS": [9000.0] + [50.0] * 47}))
    elif case == "lonely":
        replace_file(good, "DEMO_J.XPT", base.assign(SDMVPSU=np.where(base["SDMVSTRA"] == 151, 1.0, base["SDMVPSU"])))
    with pytest.raises(DataError, match=expected):
        run_clean(good)
    assert outputs(good) == before


def test_zero_weight_rows_stay_in_the_design_but_out_of_domains(project):
    base = demo()
    base.loc[:5, "WTMEC2YR"] = 0.0
    build_raw(project, {"DEMO_J.XPT": base,
                        "VID_J.XPT": pd.DataFrame({"SEQN": base["SEQN"], "LBXVIDMS": np.linspace(20, 120, 48)}),
                        "BMX_J.XPT": pd.DataFrame({"SEQN": base["SEQN"], "BMXBMI": np.linspace(19, 40, 48)})})
    run_clean(project)
    analytic = pd.read_parquet(project / "data_clean/analytic.parquet")
    assert len(analytic) == 48
    assert not analytic.loc[:5, "in_adults"].any() and analytic.loc[6:, "in_adults"].all()


def test_all_missing_outcome_in_a_domain_is_a_clear_error():
    frame = pd.DataFrame({"sdmvstra": [1, 1, 2, 2], "sdmvpsu": [1, 2, 1, 2], "w": 1.0,
                          "seqn": [1, 2, 3, 4], "y": np.nan, "dom": True})
    with pytest.raises(DataError, match=r"column 'y' is missing for 4 participant\(s\) in domain 'dom'"):
        SurveyData(frame).mean("y", "w", "dom")


def test_empty_domain_is_a_clear_error():
    frame = pd.DataFrame({"sdmvstra": [1, 1], "sdmvpsu": [1, 2], "w": 1.0, "seqn": [1, 2], "y": 1.0, "dom": False})
    with pytest.raises(DataError, match="domain 'dom' has no participant with a positive w"):
        SurveyData(frame).mean("y", "w", "dom")


@pytest.mark.parametrize("edit,expected", [
    (lambda p: p["analyze"].update(vitd_cutoffs_nmol=[30, -5]), r"analyze.vitd_cutoffs_nmol = \[30, -5\]"),
    (lambda p: p["analyze"].update(vitd_cutoffs_nmol=[50, 30]), r"cut-offs must increase"),
    (lambda p: p["analyze"].update(vitd_cutoffs_nmol=[30, 5000]), r"inside the plausible 25\(OH\)D range"),
    (lambda p: p["clean"]["mg_ear_mg"]["male"].append([31, 200, -1]), r"clean.mg_ear_mg.male band \[31, 200, -1\]"),
    (lambda p: p["analyze"].update(high_ca_mg_ratio=0), r"analyze.high_ca_mg_ratio = 0: must be positive"),
])
def test_impossible_settings_are_refused(project, edit, expected):
    params = config.load_params(project / "params.yaml")
    edit(params)
    with pytest.raises(ConfigError, match=expected):
        config.check_params(params)


def test_cli_reports_errors_in_one_line(project):
    build_raw(project)
    (project / "data_raw" / CYCLE / "VID_J.XPT").write_bytes(b"<html>oops</html>")
    result = subprocess.run([sys.executable, "-m", "analysis", "--root", str(project), "clean"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "VID_J.XPT" in result.stderr and "Traceback" not in result.stderr


KILL_DURING_WRITE = textwrap.dedent("""
    import os, signal, sys
    from analysis.core import atomic
    with atomic.atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"half of a new file")
            fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_kill_during_write_keeps_the_previous_file_and_the_next_run_recovers(tmp_path):
    target = tmp_path / "analytic.parquet"
    target.write_bytes(b"previous complete output")
    result = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(target)])
    assert result.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"previous complete output"
    from analysis.core import atomic

    atomic.write_bytes(target, b"new complete output")
    assert target.read_bytes() == b"new complete output"


def test_clean_stage_killed_at_any_moment_leaves_a_complete_output(good):
    """SIGKILL the clean stage at several moments: the parquet is always a complete one."""
    previous = outputs(good)
    for delay in (0.2, 0.8, 1.5, 2.5):
        process = subprocess.Popen([sys.executable, "-m", "analysis", "--root", str(good), "clean"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        assert pd.read_parquet(good / "data_clean/analytic.parquet").shape[0] == 48
        assert outputs(good) == previous  # same inputs: any completed run wrote the same bytes
    run_clean(good)
    assert outputs(good) == previous
