"""The layers import only downward (import-linter's contract in pyproject.toml), every module of
the package belongs to a layer, and the contract catches an upward import when one is added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from tests.conftest import REPO

LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def lint(root: Path) -> subprocess.CompletedProcess:
    """import-linter on the package under `root` (that directory first on the path)."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def layers() -> list[list[str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in line.split(":")] for line in contract["layers"]]


def test_the_layers_import_only_downward():
    run = lint(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Layers import only downward KEPT" in run.stdout


def test_every_module_is_in_a_layer():
    named = {m for layer in layers() for m in layer}
    package = REPO / "analysis"
    modules = {f"analysis.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"analysis.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert modules - named == set(), "modules in no layer of pyproject's contract"
    assert named - modules == set(), "layers naming modules that do not exist"


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "analysis", tmp_path / "analysis", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    config = tmp_path / "analysis" / "core" / "config.py"
    config.write_text(config.read_text(encoding="utf-8") + "\n\ndef _upward():\n    from analysis.outputs import report  # noqa\n")
    run = lint(tmp_path)
    assert run.returncode != 0
    assert "analysis.core is not allowed to import analysis.outputs" in run.stdout


def test_one_weighted_quantile_rule():
    """The smallest value whose weighted share reaches p (R's qrule "math"), rounding forgiven, zero
    weights left out; the analyses, the clean layer's cut points and the usual-intake distribution use it."""
    import numpy as np

    from analysis.clean import features
    from analysis.core.quantile_rule import weighted_quantiles

    assert weighted_quantiles([4, 1, 3, 2], [1, 1, 1, 1], [0.25, 0.5, 0.51, 1.0]).tolist() == [1, 2, 3, 4]
    # 0.1 / 0.30000000000000004 is 1/3 less one rounding step: it reaches 1/3
    assert weighted_quantiles([1, 2], [0.1, 0.2], [1 / 3]).tolist() == [1]
    assert weighted_quantiles([1, 2, 3], [1, 0, 1], [0.5, 0.75], presorted=True).tolist() == [1, 3]
    assert features.weighted_quantile_cuts(pd_series([5, 1, 9]), pd_series([1, 1, 2]), [0.5]) == [5.0]
    sources = {p: (REPO / p).read_text(encoding="utf-8") for p in
               ("analysis/clean/features.py", "analysis/analyses/quantiles.py", "analysis/usual/distribution.py")}
    for path, text in sources.items():
        assert "weighted_quantiles(" in text and "np.searchsorted" not in text, path
    assert np.isclose(weighted_quantiles([1.0], [2.0], [0.5])[0], 1.0)


def pd_series(values):
    import pandas as pd

    return pd.Series(values, dtype=float)
