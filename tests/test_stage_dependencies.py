"""Every module a stage runs is one of its DVC dependencies: otherwise a change to that code
leaves `dvc repro` reusing outputs the new code would not give (the same numbers must come
from the same code, byte for byte); and no module it never runs is one (a needless rerun)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PACKAGE = REPO / "analysis"
ENTRY = {"fetch": "analysis.data.fetch", "clean": "analysis.clean.stage", "usual": "analysis.usual.stage",
         "adequacy": "analysis.analyses.adequacy",
         "analyze": "analysis.claims.stage", "risk": "analysis.outputs.risk", "notebooks": "analysis.outputs.notebooks",
         "report": "analysis.outputs.report"}
RUNNER = ["analysis.__main__", "analysis.commands.cli"]  # `python -m analysis <stage>` runs these first


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported(path: Path, name: str) -> set[str]:
    """The analysis modules `path` imports anywhere in its body (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "analysis"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "analysis":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    return {m for m in found if module_file(m)}


def closure(start: list[str], skip_cli_commands: bool = True) -> set[Path]:
    """Files of the modules reachable from `start`; the CLI's other commands are not followed."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        parents = [".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))]
        todo += [p for p in parents if p not in seen]  # importing a.b runs a/__init__.py
        if skip_cli_commands and name == "analysis.commands.cli":
            continue  # each command imports its own stage lazily: followed from ENTRY instead
        todo += sorted(imported(path, name) - seen)
    return {module_file(n) for n in seen}


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO).as_posix()
    return any(relative == d or relative.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def starts(stage: str) -> list[str]:
    """Where a stage's code begins: the runner, its module, and for the notebooks stage what
    the notebooks themselves import (they run in their own kernels)."""
    extra = []
    if stage == "notebooks":
        for path in sorted((REPO / "notebooks").glob("*.py")):
            extra += sorted(imported(path, f"notebooks.{path.stem}"))
    return RUNNER + [ENTRY[stage]] + extra


@pytest.mark.parametrize("stage", sorted(ENTRY))
def test_every_module_a_stage_runs_is_a_dependency(stage):
    deps = [d for d in STAGES[stage]["deps"] if isinstance(d, str)]
    files = closure(starts(stage))
    missing = sorted(p.relative_to(REPO).as_posix() for p in files if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r}: code it runs is not among its deps: {missing}"


@pytest.mark.parametrize("stage", sorted(ENTRY))
def test_no_stage_depends_on_a_module_it_never_runs(stage):
    """A module listed but never run only reruns the stage (and those after it) for nothing:
    e.g. an edit to the clean stage's reader rerunning the usual-intake fits."""
    runs = {p.relative_to(REPO).as_posix() for p in closure(starts(stage))}
    listed = [d for d in STAGES[stage]["deps"] if isinstance(d, str) and d.startswith("analysis/") and d.endswith(".py")]
    stale = sorted(d for d in listed if d not in runs)
    # a folder is listed only where the stage runs every module in it
    folders = [d for d in STAGES[stage]["deps"] if isinstance(d, str) and (REPO / d).is_dir() and d.startswith("analysis")]
    stale += sorted(p.relative_to(REPO).as_posix() for d in folders for p in (REPO / d).rglob("*.py")
                    if p.relative_to(REPO).as_posix() not in runs)
    assert not stale, f"dvc.yaml stage {stage!r}: lists modules it never runs: {stale}"


def test_the_check_follows_lazy_and_relative_imports():
    files = {p.relative_to(REPO).as_posix() for p in closure(["analysis.outputs.report"])}
    assert "analysis/outputs/figures.py" in files  # imported at the top
    assert "analysis/core/parallel.py" in files
    assert "analysis/core/config.py" in files  # through `from analysis.core.config import ...`
    assert not covered(PACKAGE / "config.py", ["analysis/usual", "analysis/configs.py"])
    assert covered(PACKAGE / "usual" / "stage.py", ["analysis/usual"])
    assert "analysis.commands.estimate" in starts("notebooks")  # what the notebooks import


def test_every_code_and_data_dependency_exists():
    """A dependency that names no file (a path left behind by a move) fails only at `dvc repro` time."""
    missing = sorted({d for stage in STAGES.values() for d in stage.get("deps", []) if isinstance(d, str)
                      and d.startswith(("analysis/", "notebooks/", "nhanes.lock")) and not (REPO / d).exists()})
    assert not missing, f"dvc.yaml deps that do not exist: {missing}"


def test_no_pipeline_output_is_tracked_by_git():
    """DVC refuses to write an output git tracks ("already tracked by SCM"): a table committed by
    mistake would stop `dvc repro` on a clean clone."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split())
    outs = [o if isinstance(o, str) else next(iter(o)) for stage in STAGES.values() for o in stage.get("outs", [])]
    cached = [o for o in outs if not isinstance(o, dict)]
    committed = sorted(o for o in cached if o in tracked or any(t.startswith(o.rstrip("/") + "/") for t in tracked))
    metrics = {next(iter(m)) if isinstance(m, dict) else m for stage in STAGES.values() for m in stage.get("metrics", [])}
    assert not [c for c in committed if c not in metrics], f"pipeline outputs tracked by git: {committed}"
