"""A domain given as text (`--where`), parsed and never evaluated as code.

Only this grammar is accepted; anything else (calls, attribute access, arithmetic, unknown
names) is refused with the grammar in the message:
"""

from __future__ import annotations

import ast
import difflib
import io
import operator
import tokenize

import pandas as pd

from analysis.core.errors import ConfigError

GRAMMAR = """  condition  := comparison | condition & condition | condition | condition | ~condition | (condition)
  comparison := COLUMN OP VALUE | COLUMN in [VALUE, ...] | COLUMN not in [VALUE, ...] | BOOLEAN_COLUMN
  OP         := == | != | < | <= | > | >=
  VALUE      := a number, 'text', "text", True or False
  e.g.       sex == 'female' & age >= 60 & cycle in ['2015-2016', '2017-2018']"""
__doc__ += GRAMMAR

COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge}


def refuse(text: str, why: str) -> ConfigError:
    return ConfigError(f"--where {text!r}: {why}. Accepted:\n{GRAMMAR}")


def unknown_column(name: str, known: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown column {name!r}{hint}")


def columns_of(text: str) -> list[str]:
    """The column names a condition uses (after checking its grammar)."""
    return sorted({node.id for node in ast.walk(_parse(text)) if isinstance(node, ast.Name)})


def _logical(text: str) -> str:
    """& | ~ written as and / or / not, so that comparisons bind first (as people read them);
    quoted values are left as they are."""
    words = {"&": "and", "|": "or", "~": "not"}
    try:
        tokens = [words.get(t.string, t.string) if t.type == tokenize.OP else t.string
                  for t in tokenize.generate_tokens(io.StringIO(text).readline)]
        return " ".join(t for t in tokens if t.strip())
    except (tokenize.TokenError, IndentationError) as exc:
        raise refuse(text, f"not a condition ({exc})") from exc


def _parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(_logical(text), mode="eval")
    except SyntaxError as exc:
        raise refuse(text, f"not a condition ({exc.msg})") from exc
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Expression, ast.UnaryOp, ast.Not, ast.BoolOp, ast.And, ast.Or, ast.Compare,
                                 ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.In, ast.NotIn, ast.USub,
                                 *COMPARE)):
            raise refuse(text, f"{type(node).__name__.lower()} is not allowed")
    return tree


def evaluate(text: str, frame: pd.DataFrame, check_levels: bool = True) -> pd.Series:
    """The rows of `frame` meeting the condition (a missing value meets no comparison); a text value
    that is no level of its column is refused (unless `check_levels` is false)."""
    tree = _parse(text)
    known = list(frame.columns)

    def value(node) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        raise refuse(text, "a value must be a number, a quoted text, True or False")

    def column(node) -> pd.Series:
        if not isinstance(node, ast.Name):
            raise refuse(text, "the left side of a comparison must be a column name")
        if node.id not in frame:
            raise unknown_column(node.id, known)
        return frame[node.id]

    def levels_of(name: str, series: pd.Series, values: list) -> None:
        """A text value that is not a level of the column is a typo, not an empty domain."""
        if not check_levels:
            return
        levels = sorted(series.dropna().astype(str).unique())
        unknown = [v for v in values if isinstance(v, str) and v not in levels]
        if unknown:
            close = difflib.get_close_matches(unknown[0], levels, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"--where {text!r}: {', '.join(repr(v) for v in unknown)} is not a level of {name}"
                              f"{hint} (levels: {', '.join(levels[:30])}{' ...' if len(levels) > 30 else ''})")

    def condition(node) -> pd.Series:
        if isinstance(node, ast.Name):  # a bare true/false column: its true rows
            series = column(node)
            values = set(series.dropna().unique())
            if not (pd.api.types.is_bool_dtype(series) or values <= {0, 1, True, False}):
                raise refuse(text, f"{node.id} alone is a condition only for a true/false column; compare it, "
                                   f"e.g. {node.id} == ...")
            return series.fillna(False).astype(bool)
        if isinstance(node, ast.BoolOp):
            result = condition(node.values[0])
            for part in node.values[1:]:
                result = (result & condition(part)) if isinstance(node.op, ast.And) else (result | condition(part))
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~condition(node.operand)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise refuse(text, "one comparison at a time (join them with &)")
            series, op, right = column(node.left), node.ops[0], node.comparators[0]
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple)):
                    raise refuse(text, "`in` takes a list of values")
                values = [value(v) for v in right.elts]
                as_text = pd.api.types.is_string_dtype(series)
                if as_text:
                    levels_of(node.left.id, series, values)
                met = series.astype("string").isin([str(v) for v in values]) if as_text else series.isin(values)
                met = met.fillna(False).astype(bool) & series.notna()
                return ~met & series.notna() if isinstance(op, ast.NotIn) else met
            target = value(right)
            if pd.api.types.is_string_dtype(series) and not isinstance(target, str):
                raise refuse(text, f"column {node.left.id!r} holds text: compare it with a quoted value")
            if not pd.api.types.is_string_dtype(series) and isinstance(target, str):
                raise refuse(text, f"column {node.left.id!r} holds numbers: compare it with a number, "
                                   f"not the text {target!r}")
            if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(target, str):
                levels_of(node.left.id, series, [target])
            result = COMPARE[type(op)](series, target)
            return pd.Series(result, index=frame.index).fillna(False).astype(bool) & series.notna()
        raise refuse(text, "expected comparisons joined by & or |")

    return condition(tree.body)
