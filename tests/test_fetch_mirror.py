"""Fetching from a local mirror directory: the real one when present, and small ones built here."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.core import config
from analysis.data import fetch
from analysis.core.errors import ConfigError, FetchError
from tests.conftest import write_xpt


def fetch_params(project: Path) -> dict:
    return config.section(config.load_params(project / "params.yaml"), "fetch")


@pytest.mark.mirror
def test_every_catalogued_file_matches_the_mirror_manifest(project, synthetic_mirror):
    params = fetch_params(project)
    manifest = fetch.run(params, project, synthetic_mirror)
    source = pd.read_csv(synthetic_mirror / "MANIFEST.tsv", sep="\t", dtype=str)
    fetched = manifest[manifest["status"] == fetch.VERIFIED]
    merged = fetched.merge(source, on=["cycle", "file"], suffixes=("", "_mirror"), validate="one_to_one")
    assert len(merged) == len(fetched) > 0
    assert (merged["sha256"] == merged["sha256_mirror"]).all()
    assert (merged["rows"] == merged["rows_mirror"]).all()
    assert (merged["provenance"] == merged["provenance_mirror"]).all()
    for row in merged.itertuples():
        path = project / "data_raw" / row.cycle / row.file
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
    # every requested (cycle, component) is accounted for; a database file (CDC's supplement database) once
    from analysis.data.catalog import load_catalog

    database = [c for c in params["components"] if load_catalog().components[c].rows == "database"]
    assert len(manifest) == len(params["cycles"]) * (len(params["components"]) - len(database)) + len(database)
    absent = manifest[manifest["status"] == fetch.ABSENT_IN_CYCLE]
    assert set(absent["file"]) >= {"DXXFEM_G.XPT"}


@pytest.mark.mirror
def test_an_unchanged_rerun_of_the_stage_does_not_import_pandas(project, synthetic_mirror):
    """Every `dvc repro` runs the fetch stage: its no-op path is the standard library's."""
    fetch.run(fetch_params(project), project, synthetic_mirror)
    before = (project / "data_raw/MANIFEST.tsv").read_bytes()
    code = ("import sys; from analysis.commands.cli import main; code = main(['--root', sys.argv[1], 'fetch']); "
            "print(code, 'pandas' in sys.modules)")
    env = {**os.environ, "NHANES_MIRROR": str(synthetic_mirror)}
    done = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["0", "False"], done.stderr
    assert (project / "data_raw/MANIFEST.tsv").read_bytes() == before


@pytest.mark.mirror
def test_second_run_changes_nothing(project, synthetic_mirror):
    params = fetch_params(project)
    fetch.run(params, project, synthetic_mirror)
    before = (project / "data_raw/MANIFEST.tsv").read_bytes()
    stamp = (project / "data_raw/2017-2018/DEMO_J.XPT").stat().st_mtime_ns
    fetch.run(params, project, synthetic_mirror)
    assert (project / "data_raw/MANIFEST.tsv").read_bytes() == before
    assert (project / "data_raw/2017-2018/DEMO_J.XPT").stat().st_mtime_ns == stamp


def small_mirror(root: Path, sha_override: str | None = None) -> Path:
    frame = pd.DataFrame({"SEQN": [1.0, 2.0], "BMXBMI": [22.5, 31.0]})
    path = write_xpt(root / "2017-2018" / "BMX_J.XPT", frame, "BMX_J")
    digest = sha_override or hashlib.sha256(path.read_bytes()).hexdigest()
    (root / "MANIFEST.tsv").write_text(
        "cycle\tfile\trows\tcols\tbytes\tsha256\tprovenance\n"
        f"2017-2018\tBMX_J.XPT\t2\t2\t{path.stat().st_size}\t{digest}\ttest mirror\n"
    )
    return root


def only_bmx(project: Path) -> dict:
    params = fetch_params(project)
    params.update(cycles=["2017-2018"], components=["BMX", "DXXFEM"])
    return params


def test_mirror_file_with_wrong_sha256_is_rejected(project, tmp_path):
    mirror = small_mirror(tmp_path / "mirror", sha_override="f" * 64)
    with pytest.raises(FetchError, match=r"2017-2018/BMX_J.XPT: sha256 [0-9a-f]{64} does not match the expected f{64}"):
        fetch.run(only_bmx(project), project, mirror)
    assert not (project / "data_raw/2017-2018/BMX_J.XPT").exists()


def test_file_missing_from_mirror_is_recorded_not_fatal(project, tmp_path, caplog):
    mirror = small_mirror(tmp_path / "mirror")
    with caplog.at_level("INFO", logger="analysis.data.fetch"):
        manifest = fetch.run(only_bmx(project), project, mirror).set_index("file")
    assert manifest.loc["BMX_J.XPT", "status"] == fetch.VERIFIED
    assert manifest.loc["DXXFEM_J.XPT", "status"] == fetch.ABSENT_FROM_MIRROR  # not "at source": CDC has it
    # said once, in plain words, not as a warning per file; no local path in the manifest
    said = [r for r in caplog.records if "DXXFEM_J.XPT" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "INFO" and "not in mirror" in said[0].getMessage()
    assert str(mirror) not in manifest.loc["DXXFEM_J.XPT", "provenance"]


def test_mirror_without_manifest_is_a_clear_error(project, tmp_path):
    (tmp_path / "bare").mkdir()
    with pytest.raises(FetchError, match="has no MANIFEST.tsv"):
        fetch.run(only_bmx(project), project, tmp_path / "bare")


def test_unknown_cycle_or_component_in_params(project):
    params = fetch_params(project)
    with pytest.raises(ConfigError, match=r"fetch.cycles: unknown cycle\(s\) \['2019-2020'\]"):
        fetch.run({**params, "cycles": ["2019-2020"]}, project, None)
    with pytest.raises(ConfigError, match=r"fetch.components: unknown component\(s\) \['XYZ'\]"):
        fetch.run({**params, "components": ["XYZ"]}, project, None)


def test_mirror_env_variable_wins_over_params(monkeypatch, tmp_path):
    monkeypatch.setenv(config.MIRROR_ENV, str(tmp_path))
    assert config.resolve_mirror({"mirror": "elsewhere"}, tmp_path) == tmp_path
    monkeypatch.delenv(config.MIRROR_ENV)
    with pytest.raises(ConfigError, match="fetch.mirror: mirror directory .*elsewhere does not exist"):
        config.resolve_mirror({"mirror": "elsewhere"}, tmp_path)
    assert config.resolve_mirror({"mirror": None}, tmp_path) is None


def test_unchanged_files_are_not_hashed_again_unless_forced(project, tmp_path, monkeypatch):
    mirror = small_mirror(tmp_path / "mirror")
    fetch.run(only_bmx(project), project, mirror)
    hashed = []
    real = fetch.sha256_of
    monkeypatch.setattr(fetch, "sha256_of", lambda path: hashed.append(path.name) or real(path))
    fetch.run(only_bmx(project), project, mirror)
    assert hashed == []  # same size and modification time: a stat is enough
    fetch.run(only_bmx(project), project, mirror, force=True)
    assert hashed == ["BMX_J.XPT"]
    hashed.clear()
    target = project / "data_raw/2017-2018/BMX_J.XPT"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000_000))
    fetch.run(only_bmx(project), project, mirror)
    assert hashed == ["BMX_J.XPT"]  # touched: hashed again (and still the same file, so kept)
    target.write_bytes(target.read_bytes()[:-80])  # damaged on disk: fetched again from the mirror
    manifest = fetch.run(only_bmx(project), project, mirror).set_index("file")
    assert manifest.loc["BMX_J.XPT", "status"] == fetch.VERIFIED
    assert hashlib.sha256(target.read_bytes()).hexdigest() == manifest.loc["BMX_J.XPT", "sha256"]


def test_a_later_run_keeps_the_mirror_the_last_fetch_used(tmp_path, monkeypatch):
    from analysis.core import config

    monkeypatch.delenv(config.MIRROR_ENV, raising=False)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    root = tmp_path / "project"
    root.mkdir()
    assert config.resolve_mirror({"mirror": None}, root) is None  # nothing remembered: CDC
    config.remember_mirror(root, mirror)
    assert config.resolve_mirror({"mirror": None}, root) == mirror.resolve()
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(config.MIRROR_ENV, str(other))  # the environment still decides first
    assert config.resolve_mirror({"mirror": None}, root) == other
    monkeypatch.delenv(config.MIRROR_ENV)
    mirror.rmdir()  # a remembered mirror that is gone: back to CDC
    assert config.resolve_mirror({"mirror": None}, root) is None
    config.remember_mirror(root, None)  # a download from CDC forgets the mirror
    assert not (root / config.REMEMBERED_MIRROR).exists()
