"""Compare two pipeline runs' outputs number by number: `python benchmarks/compare_outputs.py OLD NEW`.

OLD and NEW are project roots (or copies of their data_clean/ and reports/). Every CSV and
parquet under reports/tables, reports/*.csv and data_clean is read; text cells must match
exactly, numbers to `--rtol` (default 1e-9) relative. Each difference is listed as file,
row, column, old, new, relative size and, where the row has a std_error, its size in SEs.
Exit status 1 when anything differs (speed work must change no number, or list each change).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FOLDERS = ("reports/tables", "reports", "data_clean")


def tables(root: Path) -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("*")):
            if path.suffix in (".csv", ".parquet") and path.is_file():
                found[str(path.relative_to(root))] = path
    return found


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False,
                                                                              na_values=[""], low_memory=False)


def differences(name: str, old: pd.DataFrame, new: pd.DataFrame, rtol: float) -> list[dict]:
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        return [{"file": name, "row": "", "column": "(shape)", "old": f"{old.shape} {list(old.columns)[:6]}",
                 "new": f"{new.shape} {list(new.columns)[:6]}", "relative": np.nan, "in_se": np.nan}]
    out = []
    se = pd.to_numeric(old["std_error"], errors="coerce") if "std_error" in old else None
    label = [c for c in ("model", "term", "group", "claim_id", "figure", "seqn") if c in old.columns]
    for column in old.columns:
        a, b = old[column], new[column]
        numeric_a, numeric_b = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        numeric = numeric_a.notna() & numeric_b.notna()
        text = ~numeric & ~(a.isna() & b.isna())
        mismatch = text & (a.astype(str) != b.astype(str))
        x, y = numeric_a[numeric].to_numpy(float), numeric_b[numeric].to_numpy(float)
        scale = np.maximum(np.abs(x), np.abs(y))
        relative = np.where(scale > 0, np.abs(x - y) / np.where(scale > 0, scale, 1), 0.0)
        bad_numbers = pd.Series(False, index=old.index)
        bad_numbers[numeric[numeric].index] = relative > rtol
        for i in old.index[mismatch | bad_numbers]:
            row = " / ".join(str(old.at[i, c]) for c in label) or str(i)
            rel = float(abs(numeric_a[i] - numeric_b[i]) / max(abs(numeric_a[i]), abs(numeric_b[i]))) \
                if numeric[i] else np.nan
            in_se = float(abs(numeric_a[i] - numeric_b[i]) / se[i]) if se is not None and numeric[i] and \
                column in ("estimate", "ci_low", "ci_high") and se[i] > 0 else np.nan
            out.append({"file": name, "row": row, "column": column, "old": a[i], "new": b[i], "relative": rel,
                        "in_se": in_se})
    return out


def compare(old_root: Path, new_root: Path, rtol: float) -> pd.DataFrame:
    old, new = tables(old_root), tables(new_root)
    rows = [{"file": n, "row": "", "column": "(file)", "old": "present" if n in old else "absent",
             "new": "present" if n in new else "absent", "relative": np.nan, "in_se": np.nan}
            for n in sorted(set(old) ^ set(new))]
    for name in sorted(set(old) & set(new)):
        rows += differences(name, read(old[name]), read(new[name]), rtol)
    return pd.DataFrame(rows, columns=["file", "row", "column", "old", "new", "relative", "in_se"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9)
    args = parser.parse_args(argv)
    found = compare(args.old, args.new, args.rtol)
    n_files = len(set(tables(args.old)) | set(tables(args.new)))
    if found.empty:
        print(f"{n_files} files: every number equal to {args.rtol:g} relative, every text cell identical")
        return 0
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.max_colwidth", 60):
        print(found.to_string(index=False))
    print(f"{len(found)} difference(s) in {found['file'].nunique()} of {n_files} files", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
