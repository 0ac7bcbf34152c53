"""The README's examples of the analysts' commands run as printed: each `$ python -m analysis ...`
line of its console blocks, on the synthetic pipeline's project, exits 0 and prints the README's
first line (the question, which does not depend on the data; the numbers do)."""

from __future__ import annotations

import re
import shlex

import pytest

from analysis.commands.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.mirror


def examples() -> list[tuple[list[str], str]]:
    """(argv, the first line printed) of every console example in the README."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("$ python -m analysis "):
            found.append((shlex.split(line[len("$ python -m analysis "):]), lines[i + 1].rstrip()))
    return found


EXAMPLES = examples()


def test_the_readme_has_examples_of_every_command():
    commands = {argv[0] for argv, _ in EXAMPLES}
    assert {"estimate", "model", "risk", "search", "describe"} <= commands, commands


@pytest.mark.parametrize("argv, first_line", EXAMPLES, ids=[" ".join(a)[:70] for a, _ in EXAMPLES])
def test_a_readme_example_runs_as_printed(analyzed_project, capsys, argv, first_line):
    assert main(["--root", str(analyzed_project)] + argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    printed = out.splitlines()[0].rstrip()
    if argv[0] == "search":  # a table: its header names the same columns
        assert re.split(r"\s+", printed.strip()) == re.split(r"\s+", first_line.strip())
    else:
        assert printed == first_line
