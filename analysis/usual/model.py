"""The NCI amount-only measurement-error model for nutrients eaten nearly every day, fitted by
survey-weighted moments (Tooze et al. 2006; Kipnis et al. 2009; Zhang et al. 2011 for the
multivariate form).

For person i, recall day j (1 or 2) and nutrient k, with T_k the Box-Cox transformation:

    T_k(R_ijk) = x_i b_k + d_k [j = 2] + w_k weekend_ij + u_ik + e_ijk

u_i ~ N(0, S_u) is the person's lasting deviation (between-person), e_ij ~ N(0, S_e) the day's
(within-person), independent of each other and across days; day 1 is unbiased for usual
intake (the day-2 term absorbs the second interview's mean shift). Usual intake is
E_j[R_ij | i] = 4/7 E_e[T^-1(x b + u + e)] + 3/7 E_e[T^-1(x b + w + u + e)].

Estimation, every step survey-weighted:
1. lambda_k maximizes the weighted normal profile likelihood of day-1 recalls given the
   covariates (day-1 weight);
2. b, d, w by weighted least squares over all reliable recalls (day-1 weight), which is
   consistent for the mean model whatever the within-person correlation;
3. S_u and S_e from people with two reliable recalls (two-day weight): the between-person
   covariance is the covariance of their day-1 and day-2 residuals, the within-person one
   half the covariance of the residuals' difference. Several nutrients are fitted jointly so
   that their correlated errors (a big eating day is big for every nutrient) carry into the
   conditional expectations.
Assumptions: normal u and e on the transformed scale, no zero amounts (a zero, rare for
these nutrients, is set to half the smallest positive amount), covariates measured without error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from analysis.core.errors import DataError
from analysis.usual import boxcox

DAY2 = "day2"
WEEKEND = "weekend"


@dataclass(frozen=True)
class Nutrient:
    """One nutrient's recalls: analytic-table columns for day 1 and day 2."""

    name: str
    day1: str
    day2: str


@dataclass
class RecallData:
    """The persons of one model and their reliable recalls, as arrays.

    amounts: (persons, 2 days, nutrients), NaN where a day's recall is absent or unreliable;
    weekend: (persons, 2) 0/1, or None when some recall lacks its day of the week;
    design: (persons, p) person-level covariates including the intercept.
    """

    nutrients: tuple[str, ...]
    amounts: np.ndarray
    weekend: np.ndarray | None
    design: np.ndarray
    names: tuple[str, ...]
    day1_weight: np.ndarray
    day2_weight: np.ndarray
    floors: np.ndarray  # per nutrient: amounts at or below 0 are raised to this

    @property
    def has_day2(self) -> np.ndarray:
        return ~np.isnan(self.amounts[:, 1, 0])

    @property
    def n_recalls(self) -> np.ndarray:
        return 1 + self.has_day2.astype(int)

    @cached_property
    def recall_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed-effects regression's rows, built once for every replicate's fit: one per
        recall (day 1 of everyone, then day 2 of those with one), its design (person covariates,
        day-2 indicator, weekend flag) and the transformed amounts' log (persons x nutrients)."""
        second = self.has_day2
        rows_day1 = np.column_stack([self.design, np.zeros(len(self.design))])
        rows_day2 = np.column_stack([self.design[second], np.ones(second.sum())])
        if self.weekend is not None:
            rows_day1 = np.column_stack([rows_day1, self.weekend[:, 0]])
            rows_day2 = np.column_stack([rows_day2, self.weekend[second, 1]])
        log_amounts = np.log(np.concatenate([self.amounts[:, 0, :], self.amounts[second, 1, :]]))
        return np.vstack([rows_day1, rows_day2]), log_amounts


def person_design(frame: pd.DataFrame, numeric: list[str], categorical: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """Intercept, numeric columns, and indicators of every non-reference level of each
    categorical; a column that is a linear combination of earlier ones (it conditions on
    nothing new) is left out, so that every replicate's fit is well defined."""
    columns, names = [np.ones(len(frame))], ["_intercept_"]
    for name in numeric:
        columns.append(frame[name].astype(float).to_numpy())
        names.append(name)
    for name, reference in categorical.items():
        values = frame[name].astype(str).to_numpy()
        for level in sorted(set(values) - {reference}):
            columns.append((values == level).astype(float))
            names.append(f"{name}_{level}")
    design = np.column_stack(columns)
    keep = independent_columns(design)
    return design[:, keep], [n for n, k in zip(names, keep) if k]


def independent_columns(design: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Mask of the columns kept when each is added in order and dropped if it lies in the span
    of those kept before it (relative residual below `tol`)."""
    scaled = design / np.maximum(np.abs(design).max(axis=0), 1e-300)
    keep = np.zeros(design.shape[1], bool)
    basis = np.empty((design.shape[1], design.shape[0]))  # orthonormal rows, filled in order (no regrowing)
    size = 0
    for j in range(design.shape[1]):
        column = scaled[:, j]
        residual = column - (basis[:size] @ column) @ basis[:size] if size else column
        norm = np.linalg.norm(residual)
        if norm > tol * max(np.linalg.norm(column), 1e-300):
            keep[j] = True
            basis[size] = residual / norm
            size += 1
    return keep


def recall_data(frame: pd.DataFrame, nutrients: list[Nutrient], numeric: list[str],
                categorical: dict[str, str], day1_weight: str = "wt_day1", day2_weight: str = "wt_day2") -> RecallData:
    """Arrays for the persons of `frame` (each with a reliable day-1 recall for every nutrient)."""
    day1 = np.column_stack([frame[n.day1].astype(float).to_numpy() for n in nutrients])
    day2 = np.column_stack([frame[n.day2].astype(float).to_numpy() for n in nutrients])
    if np.isnan(day1).any():
        bad = [n.day1 for n, col in zip(nutrients, day1.T) if np.isnan(col).any()]
        raise DataError(f"usual-intake model: day-1 amount(s) {bad} missing for persons in the model's domain")
    day2[np.isnan(day2).any(axis=1)] = np.nan  # a day-2 recall counts only if complete
    amounts = np.stack([day1, day2], axis=1)
    positive = np.where(amounts > 0, amounts, np.nan)
    floors = np.nanmin(positive.reshape(-1, len(nutrients)), axis=0) / 2
    amounts = np.where(amounts <= 0, floors[None, None, :], amounts)
    weekend = None
    if "recall_day1_weekend" in frame and "recall_day2_weekend" in frame:
        w1 = frame["recall_day1_weekend"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        w2 = frame["recall_day2_weekend"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        has_day2 = ~np.isnan(amounts[:, 1, 0])
        if not np.isnan(w1).any() and not np.isnan(w2[has_day2]).any():
            weekend = np.column_stack([w1, np.nan_to_num(w2)])
    design, names = person_design(frame, numeric, categorical)
    return RecallData(tuple(n.name for n in nutrients), amounts, weekend, design, tuple(names),
                      frame[day1_weight].to_numpy(dtype=float), frame[day2_weight].to_numpy(dtype=float), floors)


@dataclass(frozen=True)
class Parameters:
    """A fitted model: per nutrient lambda, fixed effects (rows: design names, day2[, weekend])
    and the between- (sigma_u) and within-person (sigma_e) covariance matrices."""

    nutrients: tuple[str, ...]
    lambdas: np.ndarray
    beta: np.ndarray
    terms: tuple[str, ...]
    sigma_u: np.ndarray
    sigma_e: np.ndarray

    def shift(self, term: str) -> np.ndarray:
        """The coefficient row of `term` (0 for every nutrient when the model lacks it)."""
        return self.beta[self.terms.index(term)] if term in self.terms else np.zeros(len(self.nutrients))

    def to_dict(self) -> dict:
        return {"nutrients": list(self.nutrients), "lambdas": self.lambdas.tolist(), "beta": self.beta.tolist(),
                "terms": list(self.terms), "sigma_u": self.sigma_u.tolist(), "sigma_e": self.sigma_e.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Parameters":
        return cls(tuple(d["nutrients"]), np.array(d["lambdas"]), np.array(d["beta"]), tuple(d["terms"]),
                   np.array(d["sigma_u"]), np.array(d["sigma_e"]))


def weighted_covariance(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum w (a - mean a)(b - mean b)' / sum w, for rows of a and b."""
    w = w / w.sum()
    return ((a - w @ a) * w[:, None]).T @ (b - w @ b)


def nearest_psd(matrix: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Symmetrize and raise eigenvalues below `floor` x the largest (a moment estimate can dip below 0)."""
    sym = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(sym)
    values = np.maximum(values, floor * max(values.max(), floor))
    return (vectors * values) @ vectors.T


def fit(data: RecallData, factor: np.ndarray | None = None, near: Parameters | None = None) -> Parameters:
    """Fit with weights = the data's weights x `factor` (a replicate's factors; None: full
    sample). `near`: the full-sample fit, where the search for a replicate's lambdas starts."""
    f = np.ones(len(data.design)) if factor is None else factor
    w1, w2 = data.day1_weight * f, data.day2_weight * f
    has_day2 = data.has_day2 & (w2 > 0)
    if has_day2.sum() < len(data.nutrients) + 2:  # the covariance matrices need at least this many
        raise DataError(f"usual-intake model: only {int(has_day2.sum())} persons with two reliable recalls and a "
                        "two-day weight")
    day1_design = data.design if data.weekend is None else np.column_stack([data.design, data.weekend[:, 0]])
    k = len(data.nutrients)
    lambdas = boxcox.estimate_lambdas(data.amounts[:, 0, :], day1_design, w1,
                                      near=None if near is None else near.lambdas)

    terms = list(data.names) + [DAY2] + ([WEEKEND] if data.weekend is not None else [])
    second = data.has_day2
    x, log_amounts = data.recall_rows
    sqrt_w = np.sqrt(np.concatenate([w1, w1[second]]))
    y = np.column_stack([boxcox.transform_log(log_amounts[:, j], lambdas[j]) for j in range(k)])
    root = x * sqrt_w[:, None]  # x' W x as root' root (a symmetric product)
    beta = np.linalg.solve(root.T @ root, root.T @ (y * sqrt_w[:, None]))

    residual = y - x @ beta
    n = len(data.design)
    r1 = residual[:n][has_day2]
    r2 = residual[n:][has_day2[second]]
    weights = w2[has_day2]
    between = weighted_covariance(r1, r2, weights)
    within = weighted_covariance(r1 - r2, r1 - r2, weights) / 2
    return Parameters(data.nutrients, lambdas, beta, tuple(terms), nearest_psd(between), nearest_psd(within))
