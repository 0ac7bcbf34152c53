"""The data dictionary (analysis/clean/dictionary.yaml): every documented column of the files in
data_clean/, read by the stages that write those files and by the command line's lookups,
without the clean stage's reading and deriving code."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from analysis.core.config import load_yaml

ANALYTIC_FILE = "analytic.parquet"


def load_dictionary() -> pd.DataFrame:
    """Every documented column of the files in data_clean/, with the file that holds it."""
    text = resources.files("analysis.clean").joinpath("dictionary.yaml").read_text(encoding="utf-8")
    entries = load_yaml(text)
    return pd.DataFrame(
        [{"column": name, "file": ANALYTIC_FILE, **{k: str(v) for k, v in spec.items()}} for name, spec in entries.items()],
        columns=["column", "file", "sample", "description", "unit", "source", "rule"],
    )


def undocumented(frame: pd.DataFrame, file: str) -> list[str]:
    """Columns of `frame` that the dictionary does not document for `file` (seqn, the join
    key of every file, is documented once, with the analytic table)."""
    dictionary = load_dictionary()
    return sorted(set(frame.columns) - set(dictionary.loc[dictionary["file"] == file, "column"]) - {"seqn"})
