"""Read fixed-width text files, the format NCHS publishes its public-use Linked Mortality Files in.

A layout gives each variable's 1-based, inclusive column positions as NCHS documents them.
Values are numbers; "." (NCHS's missing) and blanks are missing; lines may end in CRLF (as
NCHS's files do) or LF; a line may stop before its last fields (those are missing). A value
that is not a number is an error naming the file, line and variable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.errors import DataError

Layout = dict[str, tuple[int, int]]


def header_problem(first_bytes: bytes) -> str | None:
    """Why these leading bytes are not a fixed-width text file, or None if they may be."""
    text = first_bytes.decode("latin1", errors="replace")
    if not text.strip():
        return "file is empty"
    if text.lstrip().lower().startswith(("<!doctype", "<html", "<?xml", "<head")):
        return f"an HTML page, not a fixed-width data file (starts with {text.strip()[:20]!r})"
    if b"\x00" in first_bytes:
        return "binary data, not a fixed-width text file"
    return None


def check_header(path: Path) -> None:
    with open(path, "rb") as fh:
        problem = header_problem(fh.read(200))
    if problem:
        raise DataError(f"{path}: {problem}")


def _lines(path: Path) -> list[str]:
    check_header(path)
    text = path.read_bytes().decode("latin1")
    return [line for line in text.splitlines() if line.strip()]


def read_fixed_width(path: Path, layout: Layout, columns: list[str] | None = None) -> pd.DataFrame:
    """The file as a float frame, one column per variable of `layout` (or of `columns`)."""
    names = list(layout) if columns is None else list(columns)
    unknown = [n for n in names if n not in layout]
    if unknown:
        raise DataError(f"{path}: variable(s) {unknown} are not in the file's layout {list(layout)}")
    lines = _lines(path)
    out = {}
    for name in names:
        start, end = layout[name]
        raw = np.array([line[start - 1:end].strip() for line in lines], dtype=object)
        missing = (raw == "") | (raw == ".")
        values = pd.to_numeric(pd.Series(np.where(missing, None, raw)), errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~missing & np.isnan(values))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{path}: line {i + 1}, variable {name} (columns {start}-{end}): {raw[i]!r} is not "
                            f"a number or '.' ({len(bad)} such line(s))")
        out[name] = values
    return pd.DataFrame(out, columns=names)


def shape(path: Path, layout: Layout) -> tuple[int, int]:
    """(rows, variables of the layout)."""
    return len(_lines(path)), len(layout)
