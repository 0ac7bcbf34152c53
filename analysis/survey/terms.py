"""Design matrices from a model's coefficient names: "x", a dummy "sex_female", or a product
"a:b" (or "a:b:c") of them. Shared by the survey GLMs (whose dummies svy names) and the Cox models
(whose dummies `coding` names the same way), for predictions and replicate refits."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

Dummies = dict[str, tuple[str, str]]  # dummy coefficient name -> (column, level)


def coding(terms: tuple[str, ...], frame: pd.DataFrame, references: dict[str, str]) -> tuple[list[str], Dummies]:
    """Coefficient names and dummies for `terms` on the rows of `frame`: a text column gets
    one indicator per level present other than its reference (levels sorted), named
    "<column>_<level>"; a product of terms ("a:b", "a:b:c") crosses their columns."""
    names, dummies = [], {}

    def columns_of(part: str) -> list[str]:
        values = frame[part]
        if not pd.api.types.is_string_dtype(values):
            return [part]
        levels = sorted(set(values.dropna().astype(str).unique()) - {references[part]})
        for level in levels:
            dummies[f"{part}_{level}"] = (part, level)
        return [f"{part}_{level}" for level in levels]

    for term in terms:
        parts = term.split(":")
        expanded = [columns_of(p) for p in parts]
        names += [":".join(crossed) for crossed in itertools.product(*expanded)]
    return names, dummies


def column(frame: pd.DataFrame, parts: list[str], dummies: Dummies) -> np.ndarray:
    value = np.ones(len(frame))
    for part in parts:
        if part == "_intercept_":
            continue
        if part in dummies:
            name, level = dummies[part]
            value = value * (frame[name].astype(str).to_numpy() == level)
        else:
            value = value * frame[part].astype(float).to_numpy()
    return value


def matrix(frame: pd.DataFrame, names: list[str], dummies: Dummies) -> np.ndarray:
    return np.column_stack([column(frame, name.split(":"), dummies) for name in names])


def builder(frame: pd.DataFrame, names: list[str], dummies: Dummies, varying: set[str]):
    """For `frame`'s rows: a function of {column: values} for the columns in `varying`
    returning the design matrix with those columns replaced (the rest computed once).
    Used to refit a model on every replicate of a two-step estimate, so the matrix is one
    buffer whose varying columns each call overwrites: use it before the next call (a copy
    per call was a third of a replicate's GLM refit)."""
    x = matrix(frame, names, dummies)
    affected = []
    for i, name in enumerate(names):
        parts = name.split(":")
        moving = [p for p in parts if p in varying]
        if moving:
            fixed = column(frame, [p for p in parts if p not in varying], dummies)
            affected.append((i, fixed, moving))

    def build(values: dict[str, np.ndarray]) -> np.ndarray:
        for i, fixed, moving in affected:
            col = fixed
            for p in moving:
                col = col * values[p]
            x[:, i] = col
        return x

    return build
