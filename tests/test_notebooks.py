"""The notebooks execute top to bottom against a mirror run, draw their figures, and are
exported as HTML into reports/notebooks/, linked from the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.outputs import notebooks
from tests.conftest import REPO, SYNTHETIC_MIRROR, _run_stages, run_notebooks

pytestmark = pytest.mark.mirror
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def project(analyzed_project) -> Path:
    if not (analyzed_project / "reports/tables/risk_models.csv").exists():
        _run_stages(analyzed_project, SYNTHETIC_MIRROR, ["risk"])
    run_notebooks(analyzed_project)
    _run_stages(analyzed_project, SYNTHETIC_MIRROR, ["report"])
    return analyzed_project


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"data_tour", "main_interaction", "claims_walkthrough", "ask_your_own"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_exported_with_its_figures_and_no_errors(project, path):
    page = (project / "reports/notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
    assert page.count("<img ") >= 1, "a notebook that draws nothing is not a tour"  # (the CSS holds a png too)
    assert 'output_text output_error' not in page  # a cell that raised
    # every figure described (the heading of its section), none with nbconvert's placeholder
    assert "No description has been provided" not in page
    assert page.count('alt="Figure: ') == page.count("<img ")
    assert "white-space: pre; overflow-x: auto" in page  # printed tables scroll, not wrap


def test_report_links_every_notebook(project):
    from tests.conftest import whole_report

    report = whole_report(project)
    for path in NOTEBOOKS:
        assert f'href="notebooks/{path.stem}.html"' in report


def test_a_failing_notebook_names_itself(project, tmp_path):
    from analysis.core.errors import AnalysisError

    broken = tmp_path / "broken.py"
    broken.write_text("# %%\nraise ValueError('planted')\n", encoding="utf-8")
    with pytest.raises(AnalysisError, match="broken.py: a cell failed"):
        notebooks.execute(broken, project)


def test_printed_text_is_one_output_however_the_kernel_flushed_it(tmp_path):
    """A cell's stdout reaches the client in as many chunks as the kernel flushed: merged into
    one stream output, so the exported page is the same bytes on every run."""
    source = tmp_path / "chunks.py"
    source.write_text("# %%\nimport sys, time\nprint('first', flush=True)\ntime.sleep(0.3)\nprint('second')\n",
                      encoding="utf-8")
    cell = notebooks.execute(source, tmp_path).cells[0]
    streams = [o for o in cell.outputs if o["output_type"] == "stream"]
    assert len(streams) == 1 and streams[0]["text"] == "first\nsecond\n"
