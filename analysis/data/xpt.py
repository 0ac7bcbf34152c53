"""Recognise and read SAS transport (XPT) files, the format CDC publishes NHANES in."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat

from analysis.core.errors import DataError

# The first 80-byte record of a SAS transport file, version 5 or 8.
_XPT_MAGIC = (
    b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!",
    b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!",
)
# CDC files carry Latin-1 labels (e.g. "\xb5g"); UTF-8 decoding fails on them.
ENCODING = "latin1"


def header_problem(first_bytes: bytes) -> str | None:
    """Why these leading bytes are not a SAS transport file, or None if they are."""
    if any(first_bytes.startswith(magic) for magic in _XPT_MAGIC):
        return None
    preview = first_bytes[:40].decode("latin1", errors="replace").strip()
    if not preview:
        return "file is empty"
    if preview.lstrip().lower().startswith(("<!doctype", "<html", "<?xml", "<head")):
        return f"an HTML page, not a SAS transport file (starts with {preview[:20]!r})"
    return f"not a SAS transport file (starts with {preview[:20]!r})"


def check_header(path: Path) -> None:
    with open(path, "rb") as fh:
        problem = header_problem(fh.read(80))
    if problem:
        raise DataError(f"{path}: {problem}")


def read_xpt(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read an XPT file (optionally only `columns`), with errors that name the file."""
    check_header(path)
    try:
        frame, _ = pyreadstat.read_xport(str(path), usecols=columns, encoding=ENCODING)
    except Exception as exc:  # pyreadstat raises several unrelated types for damaged files
        raise DataError(f"{path}: cannot be read as SAS transport ({type(exc).__name__}: {exc})") from exc
    return frame


def column_names(path: Path) -> list[str]:
    check_header(path)
    try:
        _, meta = pyreadstat.read_xport(str(path), metadataonly=True, encoding=ENCODING)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as SAS transport ({type(exc).__name__}: {exc})") from exc
    return list(meta.column_names)


def shape(path: Path) -> tuple[int, int]:
    """(rows, columns); XPT metadata has no row count, so the key column is read."""
    names = column_names(path)
    frame = read_xpt(path, columns=names[:1])
    return len(frame), len(names)


def zero_sas_underflow(frame: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """CDC stores some zeros as 5.397605e-79 (SAS's smallest float); make them 0.

    Only magnitudes below `epsilon` change, so no real measurement is touched.
    """
    out = frame.copy()
    for name in out.columns:
        values = out[name]
        if pd.api.types.is_float_dtype(values):
            tiny = values.abs() < epsilon
            if tiny.any():
                out[name] = values.mask(tiny, 0.0)
    return out

