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
    """The notebook executed with the project root as its working directory, in a kernel
    reached over local IPC sockets (over TCP the kernel warns, once per notebook, that its
    traffic is unencrypted), each figure described for its alt text."""
    import tempfile

    import jupytext
    import nbclient
    from traitlets.config import Config

    notebook = jupytext.read(path)
    for number, cell in enumerate(notebook.cells):  # stable ids (nbformat draws random ones): same bytes every run
        cell["id"] = f"cell-{number}"
    # coalesce_streams: a cell's printed text arrives in as many chunks as the kernel happened to
    # flush; merged into one output per stream, the exported HTML is the same bytes every run
    with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False,
                                         coalesce_streams=True, resources={"metadata": {"path": str(root)}},
                                         config=ipc)
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as exc:
            raise AnalysisError(f"{path}: a cell failed: {str(exc).splitlines()[-1] if str(exc) else exc}") from exc
    describe_figures(notebook)
    return notebook


def describe_figures(notebook) -> None:
    """Alt text for every figure: the heading of the section that draws it (nbconvert reads a
    cell's `alt` metadata)."""
    heading = "Figure"
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            titles = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            heading = titles[-1] if titles else heading
        elif any("image/png" in output.get("data", {}) for output in cell.get("outputs", [])):
            cell.metadata.setdefault("alt", f"Figure: {heading}")


def to_html(notebook) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    return body.replace("</head>", f"{NO_WRAP}</head>", 1)


# printed tables keep their columns: scroll sideways instead of wrapping each row over lines
NO_WRAP = "<style>div.output_text pre { white-space: pre; overflow-x: auto; }</style>"


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
