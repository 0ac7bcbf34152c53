"""The notebooks (jupytext percent files) execute top to bottom against a mirror run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, SYNTHETIC_MIRROR, _run_stages

pytestmark = pytest.mark.mirror
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def project(analyzed_project) -> Path:
    if not (analyzed_project / "reports/index.html").exists():
        _run_stages(analyzed_project, SYNTHETIC_MIRROR, ["risk", "report"])
    return analyzed_project


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"data_tour", "main_interaction", "claims_walkthrough"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(project, path):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(project)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert outputs, "a notebook that shows nothing is not a tour"
