"""Weighted Cox proportional-hazards regression: the numbers behind the survey layer's
design-based Cox model (svy 0.35 has none), written to equal R's survival::coxph.

Breslow's handling of tied event times (all deaths at a time share one risk set); R's coxph
defaults to Efron's, so the R oracle asks for ties = "breslow" explicitly. Follow-up is
(start, stop]: a row is at risk at an event time t when start < t <= stop; without entry
times start is -1 (everyone at risk from before time 0, so a death at month 0 counts, as in
coxph with Surv(time, event)). Weights are sampling weights (zero rows contribute nothing).

Everything is sums over the distinct event times (months: at most a few hundred), built by
counting each row in at its entry and out at its exit: O(n p^2) per Newton step, so a model
refits on every replicate of the design in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from analysis.core.errors import DataError

TOLERANCE = 1e-8  # in standard errors of each coefficient, before a final Newton step
# ... or a step after which Newton's quadratic pace (the next step ~ this one squared, scaled as
# the last two steps were) predicts the next below this, in standard errors: nothing left to take
NEGLIGIBLE = 1e-12
MAX_ITERATIONS = 60


@dataclass(frozen=True)
class CoxFit:
    coef: np.ndarray  # log hazard ratios
    information: np.ndarray  # observed (weighted) information at coef
    loglik: float  # Breslow partial log-likelihood (weighted)
    score_residuals: np.ndarray | None  # (rows, p), unweighted: sum_i w_i L_i is the score
    iterations: int

    def influence(self, weights: np.ndarray) -> np.ndarray:
        """Each row's influence on coef, w_i L_i I^-1 (R: resid(fit, "dfbeta", weighted = TRUE))."""
        return (self.score_residuals * weights[:, None]) @ np.linalg.inv(self.information)


def _risk_set_operator(enter: np.ndarray, leave: np.ndarray, n_times: int) -> sparse.csr_matrix:
    """The (n_times x rows) difference array of the risk sets: +1 at each row's entry, -1 at
    its exit; `at_risk_sums` cumulates its product with the values over the event times."""
    rows = len(enter)
    change = sparse.csr_matrix((np.concatenate([np.ones(rows), -np.ones(rows)]),
                                (np.concatenate([enter, leave]), np.concatenate([np.arange(rows)] * 2))),
                               shape=(n_times + 1, rows))
    return change[:n_times]


def at_risk_sums(operator: sparse.csr_matrix, values: np.ndarray) -> np.ndarray:
    """sums[k] = sum of values over rows at risk at event time k (enter_i <= k < leave_i): one
    sparse product (two entries per row) and a cumulative sum over the event times."""
    return np.cumsum(operator @ values, axis=0)


class Followup:
    """The follow-up of a model's rows mapped once onto the event times: reused by every Newton
    step and by every replicate's refit (a replicate changes the weights, never the rows).

    Event times are those of events with a positive weight in `weights`; a replicate's weights
    are zero or positive where these are, so its own event times are among them (a time whose
    deaths all carry zero weight adds nothing)."""

    def __init__(self, stop, event, weights, start=None):
        self.stop = np.asarray(stop, dtype=float)
        self.start = np.full(len(self.stop), -1.0) if start is None else np.asarray(start, dtype=float)
        self.event = np.asarray(event, dtype=float) > 0
        if np.any(self.stop <= self.start):
            raise DataError("Cox model: follow-up must end after it starts (stop > start)")
        dead = self.event & (np.asarray(weights, dtype=float) > 0)
        if not dead.any():
            raise DataError("Cox model: no event with a positive weight")
        self.times = np.unique(self.stop[dead])
        self.dead = dead
        self.death_index = np.searchsorted(self.times, self.stop[dead])
        # at risk at event time k (tau_k) when start_i < tau_k <= stop_i: upto_start_i <= k < upto_stop_i,
        # with upto_* the number of event times at or before start_i / stop_i
        self.upto_stop = np.searchsorted(self.times, self.stop, side="right")
        self.upto_start = np.searchsorted(self.times, self.start, side="right")
        self.event_time = np.searchsorted(self.times, self.stop)  # meaningful for events only
        self.risk_sets = _risk_set_operator(self.upto_start, self.upto_stop, len(self.times))
        self._scaled = self.risk_sets.copy()  # the operator with each row's entries times its weight
        self._signs = self.risk_sets.data.copy()

    def weighted_at_risk_sums(self, row_weights: np.ndarray, x: np.ndarray) -> np.ndarray:
        """at_risk_sums of row_weights[:, None] * x without forming that (rows x p) product: the
        operator's two entries per row scaled by the row's weight, then one product with x (the
        same products and sums, so the same numbers; an n x p pass fewer on every evaluation).
        The scaled operator is one buffer, overwritten by each call."""
        np.multiply(self._signs, row_weights[self._scaled.indices], out=self._scaled.data)
        return np.cumsum(self._scaled @ x, axis=0)


class _Data:
    """One fit's covariates and weights on a follow-up."""

    def __init__(self, followup: Followup, x, weights):
        self.f = followup
        self.x = np.asarray(x, dtype=float)
        self.w = np.asarray(weights, dtype=float)
        if np.any(self.w[~followup.dead & followup.event] > 0):
            raise DataError("Cox model: weights positive where the follow-up's were zero")
        self.w_dead = self.w[followup.dead]
        self.deaths = np.bincount(followup.death_index, weights=self.w_dead, minlength=len(followup.times))
        self.dead_score = (self.w_dead[:, None] * self.x[followup.dead]).sum(axis=0)


def _evaluate(d: _Data, beta: np.ndarray, residuals: bool = False):
    f = d.f
    eta = d.x @ beta
    shift = eta.max()
    r = np.exp(eta - shift)
    wr = d.w * r
    s0 = at_risk_sums(f.risk_sets, wr)
    s1 = f.weighted_at_risk_sums(wr, d.x)
    xbar = s1 / s0[:, None]
    alive = s0 > 0  # a time with no one weighted at risk has no deaths weighted either
    hazard = np.divide(d.deaths, s0, out=np.zeros_like(s0), where=alive)  # Breslow increments (shifted scale)
    loglik = float(d.w_dead @ eta[f.dead] - np.sum(d.deaths[alive] * (np.log(s0[alive]) + shift)))
    xbar[~alive] = 0.0
    score = d.dead_score - d.deaths @ xbar
    cum_hazard = np.concatenate([[0.0], np.cumsum(hazard)])
    exposure = cum_hazard[f.upto_stop] - cum_hazard[f.upto_start]
    root = d.x * np.sqrt(wr * exposure)[:, None]  # x' diag(a) x as root' root (a symmetric product)
    information = root.T @ root - (xbar * d.deaths[:, None]).T @ xbar
    if not residuals:
        return loglik, score, information, None
    cum_xbar = np.vstack([np.zeros(d.x.shape[1]), np.cumsum(hazard[:, None] * xbar, axis=0)])
    resid = -r[:, None] * (d.x * exposure[:, None] - (cum_xbar[f.upto_stop] - cum_xbar[f.upto_start]))
    resid[f.dead] += d.x[f.dead] - xbar[f.event_time[f.dead]]
    return loglik, score, information, resid


def fit(x: np.ndarray, stop: np.ndarray, event: np.ndarray, weights: np.ndarray, start: np.ndarray | None = None,
        beta: np.ndarray | None = None, tolerance: float = TOLERANCE, residuals: bool = True) -> CoxFit:
    """`fit_followup` on the follow-up of these rows."""
    return fit_followup(Followup(stop, event, weights, start), x, weights, beta, tolerance, residuals)


def fit_followup(followup: Followup, x: np.ndarray, weights: np.ndarray, beta: np.ndarray | None = None,
                 tolerance: float = TOLERANCE, residuals: bool = True) -> CoxFit:
    """Maximise the weighted Breslow partial likelihood by Newton-Raphson (step halving if the
    likelihood falls), from `beta` (default 0), until no coefficient would move by `tolerance` of
    its (model-based) standard error, then one more step; a step after which the next is
    predicted negligible (`NEGLIGIBLE`) is the last one too. `residuals`: also the score residuals
    (the variance needs them); without them (a replicate refit, which needs the coefficients
    alone) the information and log-likelihood returned are those before the last step."""
    d = _Data(followup, x, weights)
    beta = np.zeros(d.x.shape[1]) if beta is None else np.array(beta, dtype=float)
    loglik, score, information, _ = _evaluate(d, beta)
    previous = np.inf  # the last step's size, in standard errors
    for iteration in range(1, MAX_ITERATIONS + 1):
        try:
            step = np.linalg.solve(information, score)
            scale = np.sqrt(np.abs(np.diag(np.linalg.inv(information))))
        except np.linalg.LinAlgError as exc:
            raise DataError("Cox model: the information matrix is singular (a covariate constant in the "
                            "domain, or collinear terms)") from exc
        size = float(np.max(np.abs(step) / scale))
        # converged, or quadratic convergence (next ~ size * size / previous^2 * size, 10x margin) predicts nothing left
        if size < tolerance or (np.isfinite(previous) and size < 1e-2 * previous
                                  and 10 * size**3 / previous**2 < NEGLIGIBLE):
            # converged: every coefficient would move by less than `tolerance` of its standard error
            # (a coefficient per kcal is 1e4 times smaller than one per 25 nmol/L: no common scale);
            # one last Newton step, quadratic this close, lands at machine precision
            beta = beta + step
            if residuals:  # a replicate refit needs the coefficients alone: no evaluation at the last step
                loglik, score, information, resid = _evaluate(d, beta, residuals=True)
            break
        for _ in range(30):
            candidate = beta + step
            new = _evaluate(d, candidate)
            if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        previous = float(np.max(np.abs(step) / scale))
        beta, (loglik, score, information, _) = candidate, new
    else:
        raise DataError(f"Cox model: Newton-Raphson did not converge in {MAX_ITERATIONS} steps "
                        "(an infinite hazard ratio? an exposure with no events in one group)")
    if not residuals:
        resid = None
    return CoxFit(beta, information, loglik, resid, iteration)
