"""The NCI two-part (episodic) model, for nutrients many recall days hold none of (Tooze et al.,
J Am Diet Assoc 2006): usual intake = P(consumed on a day) x usual amount on a consumption day.

Part I, the probability: logit P(Y_ij > 0) = x_i a + d [j = 2] + v_i, v_i ~ N(0, s_v^2), fitted by
survey-weighted maximum likelihood (day-1 weight; the integral over v by Gauss-Hermite, the
gradient exact, so the fit takes milliseconds and reruns on every replicate).
Part II, the amount on consumption days: the amount-only model of analysis/usual/model.py on the
positive recalls (Box-Cox, fixed effects by weighted least squares, between- and within-person
variance from persons with two positive recalls).
The two persons' effects are taken as independent (NCI's uncorrelated episodic model, MIXTRAN
without the correlation): say so beside every estimate it gives. No weekend term: the day of the
week is averaged into the intercepts.

Per person with weekday predictors eta_a (probability) and eta_b (amount), usual intake is
T(u, v) = expit(eta_a + v) x W(eta_b + u), W the amount model's usual-amount curve; so
P(T + supplement < c) = E_v Phi((W^-1((c - supplement) / expit(eta_a + v)) - eta_b) / s_u),
one Gauss-Hermite sum over v of normal probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from analysis.core.errors import DataError
from analysis.usual.individual import UsualCurve, usual_curve
from analysis.usual.model import Parameters, RecallData, fit

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(20)
_WEIGHTS = _WEIGHTS / np.sqrt(2 * np.pi)


@dataclass(frozen=True)
class EpisodicData:
    """Persons of one model: their recalls' consumption (NaN: no such recall), the person-level
    design, the day-1 weight, and the amount part's data (persons with a positive day 1)."""

    consumed: np.ndarray  # (persons, 2) 1/0/NaN
    design: np.ndarray
    weight: np.ndarray
    amount: RecallData
    amount_rows: np.ndarray  # which persons the amount part holds
    pattern: np.ndarray  # per person: its (design row, consumption days) pattern; the likelihood is one per pattern
    pattern_design: np.ndarray
    pattern_consumed: np.ndarray


@dataclass(frozen=True)
class EpisodicParameters:
    alpha: np.ndarray  # person-design coefficients of the probability part
    day2: float
    sigma_v: float
    amount: Parameters


def episodic_data(amounts: np.ndarray, design: np.ndarray, names: tuple[str, ...], weight: np.ndarray,
                  weight2: np.ndarray, nutrient: str) -> EpisodicData:
    """From (persons, 2) recall amounts (NaN where no reliable recall; 0 where none eaten)."""
    consumed = np.where(np.isnan(amounts), np.nan, (amounts > 0).astype(float))
    positive = np.where(amounts > 0, amounts, np.nan)
    rows = positive[:, 0] > 0
    if rows.sum() < 10:
        raise DataError(f"{nutrient}: episodic model: only {int(rows.sum())} persons with a positive day-1 recall")
    sub = positive[rows]
    sub[np.isnan(sub[:, 1]), 1] = np.nan
    data = RecallData((nutrient,), sub[:, :, None], None, design[rows], names, weight[rows], weight2[rows],
                      np.array([np.nanmin(sub) / 2]))
    keys = np.column_stack([design, np.nan_to_num(consumed, nan=2.0)])
    unique, first, pattern = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return EpisodicData(consumed, design, weight, data, rows, pattern.ravel(), design[first], consumed[first])


def _negative_loglik(theta: np.ndarray, data: EpisodicData, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood of the probability part and its gradient: per recall
    y * l - log(1 + e^l), l the linear predictor at each node of v (a missing recall adds 0);
    `w`: the weight of each pattern (persons with one design row and one consumption pattern
    contribute alike)."""
    p = data.design.shape[1]
    alpha, day2, sigma = theta[:p], theta[p], np.exp(theta[p + 1])
    eta = data.pattern_design @ alpha
    v = sigma * _NODES
    loglik = np.zeros((len(eta), len(v)))
    residuals = []
    for j in range(2):
        seen = ~np.isnan(data.pattern_consumed[:, j])
        y = np.nan_to_num(data.pattern_consumed[:, j])[:, None]
        linear = np.clip(eta[:, None] + v[None, :] + (day2 if j == 1 else 0.0), -35, 35)
        e = np.exp(linear)
        term = y * linear - np.log1p(e)
        residual = y - e / (1 + e)
        if not seen.all():
            term *= seen[:, None]
            residual *= seen[:, None]
        loglik += term
        residuals.append(residual)
    top = loglik.max(axis=1, keepdims=True)
    scaled = np.exp(loglik - top) * _WEIGHTS[None, :]
    marginal = scaled.sum(axis=1)
    posterior = scaled / marginal[:, None]
    value = -(w @ (np.log(marginal) + top[:, 0]))
    per_node = residuals[0] + residuals[1]
    d_eta = (posterior * per_node).sum(axis=1)
    gradient = np.concatenate([-(data.pattern_design.T @ (w * d_eta)),
                               [-(w @ (posterior * residuals[1]).sum(axis=1)),
                                -(w @ (posterior * per_node) @ v)]])
    return float(value), gradient


def fit_probability(data: EpisodicData, factor: np.ndarray | None = None,
                    start: np.ndarray | None = None) -> np.ndarray:
    w = data.weight * (1.0 if factor is None else factor)
    w = np.bincount(data.pattern, weights=w / w.sum() * (w > 0).sum(), minlength=len(data.pattern_design))
    if start is None:
        share = np.clip(np.nanmean(data.consumed[:, 0]), 0.01, 0.99)
        start = np.concatenate([[special.logit(share)], np.zeros(data.design.shape[1] - 1), [0.0, np.log(0.5)]])
    result = optimize.minimize(_negative_loglik, start, args=(data, w), jac=True, method="L-BFGS-B",
                               options={"maxiter": 500, "gtol": 1e-7, "ftol": 1e-13})
    return result.x


def fit_episodic(data: EpisodicData, factor: np.ndarray | None = None,
                 near: EpisodicParameters | None = None) -> EpisodicParameters:
    p = data.design.shape[1]
    start = None if near is None else np.concatenate([near.alpha, [near.day2, np.log(near.sigma_v)]])
    theta = fit_probability(data, factor, start)
    amount_factor = None if factor is None else factor[data.amount_rows]
    amount = fit(data.amount, amount_factor, near=None if near is None else near.amount)
    return EpisodicParameters(theta[:p], float(theta[p]), float(np.exp(theta[p + 1])), amount)


@dataclass(frozen=True)
class EpisodicDistribution:
    """The usual-intake distribution of persons with probability predictors eta_a and amount
    predictors eta_b (weekday, day-1 scale)."""

    eta_a: np.ndarray
    eta_b: np.ndarray
    sigma_v: float
    sigma_u: float
    curve: UsualCurve

    @classmethod
    def of(cls, design: np.ndarray, fitted: EpisodicParameters) -> "EpisodicDistribution":
        amount = fitted.amount
        eta_b = design @ amount.beta[: design.shape[1], 0]
        return cls(design @ fitted.alpha, eta_b, fitted.sigma_v, float(np.sqrt(amount.sigma_u[0, 0])),
                   usual_curve(amount, 0, eta_b))

    def probability(self) -> np.ndarray:
        """(persons, nodes): P(consumed on a day) at each node of v."""
        return special.expit(self.eta_a[:, None] + self.sigma_v * _NODES[None, :])

    def mean(self) -> np.ndarray:
        """E[usual intake] per person: E[probability] x E[usual amount] (independent parts)."""
        amount_nodes = self.curve.amount(self.eta_b[:, None] + self.sigma_u * _NODES[None, :]) @ _WEIGHTS
        return (self.probability() @ _WEIGHTS) * amount_nodes

    def below(self, cut: np.ndarray, supplement: np.ndarray) -> np.ndarray:
        """P(usual intake + supplement < cut) per person (cut: per person, or per person x points)."""
        cut = np.asarray(cut, dtype=float)
        extra = cut.ndim - 1
        probability = self.probability().reshape((len(self.eta_a),) + (1,) * extra + (len(_NODES),))
        food = (cut - supplement.reshape((-1,) + (1,) * extra))[..., None] / probability
        u = self.curve.inverse(food) - self.eta_b.reshape((-1,) + (1,) * extra)[..., None]
        return special.ndtr(u / self.sigma_u) @ _WEIGHTS
