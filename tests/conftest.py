"""Shared test helpers: small XPT files the tests write themselves, and the mirror location."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC_MIRROR = Path(os.environ.get("NHANES_MIRROR", REPO.parent / "shared" / "nhanes")).resolve()
CDC_MIRROR = Path(os.environ.get("NHANES_CDC_MIRROR", REPO.parent / "shared" / "nhanes-cdc")).resolve()


# Fixtures that run pipeline stages once per test session, and the xdist group of the tests using them.
PIPELINE_FIXTURES = {"mirror_project": "synthetic-pipeline", "analyzed_project": "synthetic-pipeline",
                     "cdc_project": "genuine-pipeline"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`, pyproject's default) every test sharing a pipeline
    fixture runs on one worker: each pipeline runs once, the two side by side."""
    for item in items:
        groups = sorted({group for name, group in PIPELINE_FIXTURES.items() if name in item.fixturenames})
        if groups:
            item.add_marker(pytest.mark.xdist_group(groups[0]))


def write_xpt(path: Path, frame: pd.DataFrame, table_name: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_xport(frame, str(path), table_name=table_name or path.stem[:8], file_format_version=5)
    return path


@pytest.fixture
def synthetic_mirror() -> Path:
    if not (SYNTHETIC_MIRROR / "MANIFEST.tsv").exists():
        pytest.skip(f"NHANES mirror not found at {SYNTHETIC_MIRROR} (set NHANES_MIRROR to run these tests)")
    return SYNTHETIC_MIRROR


@pytest.fixture
def cdc_mirror() -> Path:
    if not (CDC_MIRROR / "MANIFEST.tsv").exists():
        pytest.skip(f"genuine CDC mirror not found at {CDC_MIRROR} (set NHANES_CDC_MIRROR to run these tests)")
    return CDC_MIRROR


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch project root holding a copy of the repository's params.yaml and lock file."""
    for name in ("params.yaml", "nhanes.lock.tsv"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def _run_stages(root: Path, mirror: Path, stages: list[str]) -> None:
    from analysis.clean import stage as clean
    from analysis.core import config
    from analysis.data import fetch

    params = config.load_params(root / "params.yaml")
    paths = config.Paths(root)
    if "fetch" in stages:
        fetch.run(params["fetch"], root, mirror)
    if "clean" in stages:
        clean.run(params, paths)
    if "usual" in stages:
        from analysis.usual import stage

        stage.run(params, paths)
    if "adequacy" in stages:
        from analysis.analyses import adequacy

        adequacy.run(params, paths)
    if "analyze" in stages:
        from analysis.claims import stage as analyze

        analyze.run(params, paths)
    if "risk" in stages:
        from analysis.outputs import risk

        risk.run(params, paths)
    if "report" in stages:
        from analysis.outputs import report

        report.run(params, paths)


def scratch_project(tmp_path_factory, name: str, mirror: Path, variable: str, stages: list[str]) -> Path:
    """A scratch project (params and lock copied) with `stages` run on `mirror`; skips without it."""
    if not (mirror / "MANIFEST.tsv").exists():
        pytest.skip(f"mirror not found at {mirror} (set {variable} to run these tests)")
    root = tmp_path_factory.mktemp(name)
    for file in ("params.yaml", "nhanes.lock.tsv"):
        shutil.copy(REPO / file, root / file)
    _run_stages(root, mirror, stages)
    return root


def report_pages(root: Path) -> dict[str, str]:
    """The report's pages (analysis/outputs/report.py PAGES) by file name."""
    from analysis.outputs.report import PAGES

    return {name: (root / "reports" / name).read_text(encoding="utf-8") for name, _ in PAGES}


def whole_report(root: Path) -> str:
    """Every page of the report, one after the other (for what must appear somewhere in it)."""
    return "\n".join(report_pages(root).values())


def run_notebooks(root: Path) -> dict[str, str]:
    """The repository's notebooks executed against `root`'s outputs; their exported HTML by name."""
    from analysis.outputs import notebooks
    from analysis.core.config import Paths

    (root / "notebooks").mkdir(exist_ok=True)
    for path in sorted((REPO / "notebooks").glob("*.py")):
        shutil.copy(path, root / "notebooks" / path.name)
    return {path.stem: path.read_text(encoding="utf-8") for path in notebooks.run(Paths(root))}


@pytest.fixture(scope="session")
def mirror_project(tmp_path_factory) -> Path:
    """fetch + clean run once on the synthetic mirror, in a scratch project."""
    return scratch_project(tmp_path_factory, "mirror_project", SYNTHETIC_MIRROR, "NHANES_MIRROR", ["fetch", "clean"])


@pytest.fixture(scope="session")
def analyzed_project(mirror_project) -> Path:
    """mirror_project after the usual and analyze stages."""
    _run_stages(mirror_project, SYNTHETIC_MIRROR, ["usual", "analyze"])
    return mirror_project
