"""The notebooks stage: execute every notebook (jupytext percent files in notebooks/) against
this project's outputs and export each, with its figures, as HTML into reports/notebooks/, so
a reviewer reads them from the report without running anything."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from analysis.core import atomic, parallel
from analysis.core.config import Paths
from analysis.core.errors import AnalysisError, DataError

log = logging.getLogger(__name__)


def notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("*.py"))


def execute(path: Path, root: Path):
    """The notebook executed with the project root as its working directory."""
    import jupytext
    import nbclient

    notebook = jupytext.read(path)
    for number, cell in enumerate(notebook.cells):  # stable ids (nbformat draws random ones): same bytes every run
        cell["id"] = f"cell-{number}"
    # coalesce_streams: a cell's printed text arrives in as many chunks as the kernel happened to
    # flush; merged into one output per stream, the exported HTML is the same bytes every run
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False,
                                     coalesce_streams=True, resources={"metadata": {"path": str(root)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        raise AnalysisError(f"{path}: a cell failed: {str(exc).splitlines()[-1] if str(exc) else exc}") from exc
    return notebook


def to_html(notebook) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    return body


def run(paths: Paths) -> list[Path]:
    if not (paths.reports / "claims.csv").exists():
        raise DataError(f"{paths.reports / 'claims.csv'}: not found; run the analyze stage first")
    def one(path: Path) -> Path:
        log.info("notebooks: %s", path.name)
        target = paths.reports / "notebooks" / f"{path.stem}.html"
        atomic.write_text(target, to_html(execute(path, paths.root)))
        return target

    # each notebook runs in its own kernel process: run them side by side, one per core
    with ThreadPoolExecutor(parallel.workers()) as pool:
        return list(pool.map(one, notebooks(paths.root)))
