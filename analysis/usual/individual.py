"""Each person's usual intake given their recalls and covariates (NCI's INDIVINT), and the
probabilities that regression calibration needs.

Given the model, a person's lasting deviation u (one per nutrient) has a normal posterior:
mean S_u (S_u + S_e/n)^-1 rbar and covariance S_u - S_u (S_u + S_e/n)^-1 S_u, with rbar the mean
residual of their n reliable recalls. Usual intake is a known increasing function of u
(`UsualCurve`), so

- the expected usual intake integrates the back-transformation over the posterior and the
  within-person error (never plugs the mean into the back-transformation), and
- the probability that usual intake plus supplements reaches a threshold is a normal tail in u.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import special
from scipy.interpolate import CubicSpline

from analysis.usual import boxcox
from analysis.usual.model import DAY2, WEEKEND, Parameters, RecallData

# Share of the week that is "weekend" (Friday to Sunday), as in NCI's usual intake.
WEEKEND_SHARE = 3 / 7
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_GH_WEIGHTS = _GH_WEIGHTS / np.sqrt(2 * np.pi)  # expectations under N(0, 1)
# Fewer nodes where the integrand is a smooth normal tail probability (ratio of usual totals).
_GH_SMALL_NODES, _GH_SMALL_WEIGHTS = np.polynomial.hermite_e.hermegauss(20)
_GH_SMALL_WEIGHTS = _GH_SMALL_WEIGHTS / np.sqrt(2 * np.pi)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)


# Integrals are evaluated this many persons at a time: the (persons x nodes) arrays of one
# block stay in the processor's cache through the dozen operations of an integrand.
BLOCK = 1024


def _blocks(n: int):
    return (slice(start, min(start + BLOCK, n)) for start in range(0, n, BLOCK))


def normal_expectation(fn, mean: np.ndarray, sd: np.ndarray, small: bool = False) -> np.ndarray:
    """E[fn(U, rows)] for U ~ N(mean, sd^2), row by row (Gauss-Hermite); fn gets the nodes of
    the persons in `rows` (a slice) as a (persons x nodes) array."""
    nodes, weights = (_GH_SMALL_NODES, _GH_SMALL_WEIGHTS) if small else (_GH_NODES, _GH_WEIGHTS)
    out = np.empty(len(mean))
    for rows in _blocks(len(mean)):
        out[rows] = fn(mean[rows, None] + sd[rows, None] * nodes[None, :], rows) @ weights
    return out


def truncated_expectation(fn, mean: np.ndarray, sd: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """E[fn(U, rows) 1{U >= lower}] for U ~ N(mean, sd^2): Gauss-Legendre on the probability
    scale between Phi((lower - mean) / sd) and 1, where the integrand is smooth."""
    out = np.empty(len(mean))
    for rows in _blocks(len(mean)):
        p_low = special.ndtr((lower[rows] - mean[rows]) / sd[rows])
        span = 1.0 - p_low
        p = p_low[:, None] + span[:, None] * (_GL_NODES[None, :] + 1) / 2
        u = mean[rows, None] + sd[rows, None] * special.ndtri(np.clip(p, 1e-300, 1 - 1e-16))
        out[rows] = span * (fn(u, rows) @ _GL_WEIGHTS) / 2
    return out


@dataclass(frozen=True)
class UsualCurve:
    """Usual intake of one nutrient as a function of s = (weekday linear predictor + u):
    W(s) = 4/7 E_e g(s + e) + 3/7 E_e g(s + weekend + e), e ~ N(0, within variance), and its
    inverse on a dense table (cubic splines on the log scale)."""

    lam: float
    within_sd: float
    weekend: float
    low: float
    high: float

    def value(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=float)
        e = self.within_sd * _GH_NODES
        weekday = boxcox.inverse(s[..., None] + e, self.lam) @ _GH_WEIGHTS
        weekend = boxcox.inverse(s[..., None] + self.weekend + e, self.lam) @ _GH_WEIGHTS
        return (1 - WEEKEND_SHARE) * weekday + WEEKEND_SHARE * weekend

    @cached_property
    def _table(self) -> tuple[_UniformTable, _UniformTable]:
        """log W on a fine uniform grid of s, and s on a uniform grid of log W (its inverse).
        Linear interpolation between 8001 points: relative error about 1e-7. W is computed on
        every eighth point and the rest from a cubic spline through those (W is a convolution
        with a normal, smooth: the spline adds ~1e-9), an eighth of the integrals."""
        coarse = np.linspace(self.low, self.high, (_TABLE_POINTS - 1) // _COARSE + 1)
        log_w = np.log(np.maximum(self.value(coarse), 1e-300))
        keep = log_w > log_w.max() - 600  # drop the underflowing floor of the transformation
        first = int(np.argmax(keep))
        s = np.linspace(coarse[first], self.high, (len(coarse) - 1 - first) * _COARSE + 1)
        log_w = CubicSpline(coarse[first:], log_w[first:])(s)
        forward = _UniformTable(s[0], s[-1], log_w)
        levels = np.linspace(log_w[0], log_w[-1], _TABLE_POINTS)
        return forward, _UniformTable(levels[0], levels[-1], np.interp(levels, log_w, s))

    def amount(self, s: np.ndarray) -> np.ndarray:
        """W(s) from the table (s clamped to the table's range): fast, for many points."""
        return np.exp(self._table[0](s))

    def inverse(self, amount: np.ndarray) -> np.ndarray:
        """s with W(s) = amount; -inf for amount <= 0; clamped to the table beyond its ends."""
        return self._inverse(amount, slope=False)[0]

    def inverse_with_slope(self, amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inverse and its derivative d s / d amount (0 where clamped or amount <= 0)."""
        return self._inverse(amount, slope=True)

    def _inverse(self, amount: np.ndarray, slope: bool) -> tuple[np.ndarray, np.ndarray | None]:
        table = self._table[1]
        amount = np.asarray(amount, dtype=float)
        positive = amount > 0
        safe = np.where(positive, amount, 1.0)
        log_amount = np.log(safe)
        out = np.where(positive, table(log_amount), -np.inf)
        if not slope:
            return out, None
        inside = positive & (log_amount > table.low) & (log_amount < table.high)
        return out, np.where(inside, table.slope(log_amount) / safe, 0.0)


_TABLE_POINTS = 8001
_COARSE = 8  # W itself on every eighth point of the table


@dataclass(frozen=True)
class _UniformTable:
    """Values of a function on a uniform grid over [low, high]; linear interpolation, clamped."""

    low: float
    high: float
    values: np.ndarray

    def _position(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each x's grid interval and its fraction of the way along it (in place: fewer temporaries)."""
        step = (self.high - self.low) / (len(self.values) - 1)
        position = np.array(x, dtype=float)  # a copy, also of a scalar (a 0-d array)
        position -= self.low
        position /= step
        np.maximum(position, 0, out=position)  # clamped to the grid, as np.clip
        np.minimum(position, len(self.values) - 1, out=position)
        index = position.astype(np.int64)
        np.minimum(index, len(self.values) - 2, out=index)
        position -= index
        return index, position

    @cached_property
    def _rise(self) -> np.ndarray:
        """values[i + 1] - values[i], once (the same differences the interpolation would take)."""
        return self.values[1:] - self.values[:-1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        index, fraction = self._position(x)
        fraction *= self._rise[index]
        fraction += self.values[index]
        return fraction[()] if fraction.ndim == 0 else fraction

    def slope(self, x: np.ndarray) -> np.ndarray:
        index, _ = self._position(x)
        step = (self.high - self.low) / (len(self.values) - 1)
        return (self.values[index + 1] - self.values[index]) / step


def usual_curve(params: Parameters, j: int, eta: np.ndarray) -> UsualCurve:
    """Nutrient j's usual intake as a function of the weekday linear predictor plus u, tabulated
    over the linear predictors `eta` ± 10 between-person SDs."""
    spread = float(np.sqrt(params.sigma_u[j, j]))
    weekend = float(params.shift(WEEKEND)[j])
    return UsualCurve(float(params.lambdas[j]), float(np.sqrt(params.sigma_e[j, j])), weekend,
                      float(eta.min() - 10 * spread), float(eta.max() + 10 * spread + max(weekend, 0)))


class Individuals:
    """The posterior of each person's lasting deviations, and what follows from it."""

    def __init__(self, data: RecallData, params: Parameters):
        self.data = data
        self.params = params
        k = len(params.nutrients)
        beta_design = params.beta[: len(data.names)]
        self.eta = data.design @ beta_design  # weekday, day-1 linear predictor (persons, k)
        day2_shift = params.shift(DAY2)
        weekend_shift = params.shift(WEEKEND)
        residuals = np.empty_like(data.amounts)
        for j in range(k):
            t = boxcox.transform(data.amounts[:, :, j], params.lambdas[j])
            fitted = self.eta[:, j][:, None] + np.array([0.0, day2_shift[j]])[None, :]
            if data.weekend is not None:
                fitted = fitted + data.weekend * weekend_shift[j]
            residuals[:, :, j] = t - fitted
        n = data.n_recalls
        mean_residual = np.where(n[:, None] == 2, np.nanmean(residuals, axis=1), residuals[:, 0, :])
        self.post_mean = np.empty((len(n), k))
        self.post_cov = {}
        for count in (1, 2):
            gain = params.sigma_u @ np.linalg.inv(params.sigma_u + params.sigma_e / count)
            rows = n == count
            self.post_mean[rows] = mean_residual[rows] @ gain.T
            self.post_cov[count] = params.sigma_u - gain @ params.sigma_u
        self._n = n
        self.curves = [usual_curve(params, j, self.eta[:, j]) for j in range(k)]

    def subset(self, rows: np.ndarray) -> "Individuals":
        """The same model for the persons in `rows` only (a boolean mask)."""
        part = object.__new__(Individuals)
        part.data, part.params, part.curves, part.post_cov = self.data, self.params, self.curves, self.post_cov
        part.eta, part.post_mean, part._n = self.eta[rows], self.post_mean[rows], self._n[rows]
        return part

    def index(self, nutrient: str) -> int:
        return self.params.nutrients.index(nutrient)

    def post_sd(self, j: int) -> np.ndarray:
        return np.sqrt(np.where(self._n == 2, self.post_cov[2][j, j], self.post_cov[1][j, j]))

    def expected_usual(self, nutrient: str) -> np.ndarray:
        """E[usual intake from foods | recalls, covariates]: the back-transformation integrated
        over the posterior of u and the within-person error (one normal with both variances)."""
        j = self.index(nutrient)
        lam = self.params.lambdas[j]
        within = self.params.sigma_e[j, j]
        sd = np.sqrt(self.post_sd(j) ** 2 + within)
        centre = self.eta[:, j] + self.post_mean[:, j]
        weekday = normal_expectation(lambda y, _: boxcox.inverse(y, lam), centre, sd)
        weekend = self.curves[j].weekend
        if weekend == 0:  # no weekend term: every day alike
            return weekday
        weekend_part = normal_expectation(lambda y, _: boxcox.inverse(y, lam), centre + weekend, sd)
        return (1 - WEEKEND_SHARE) * weekday + WEEKEND_SHARE * weekend_part

    def threshold_in_u(self, nutrient: str, food_threshold: np.ndarray) -> np.ndarray:
        """The u at which usual food intake equals `food_threshold` (-inf where it is <= 0)."""
        j = self.index(nutrient)
        return self.curves[j].inverse(food_threshold) - self.eta[:, j]

    def prob_at_least(self, nutrient: str, threshold: np.ndarray, supplement: np.ndarray) -> np.ndarray:
        """P(usual food intake + usual supplement intake >= threshold | data): a normal tail."""
        j = self.index(nutrient)
        u_star = self.threshold_in_u(nutrient, threshold - supplement)
        return special.ndtr((self.post_mean[:, j] - u_star) / self.post_sd(j))

    def _conditional(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Regression slope and residual sd of u_b on u_a under the posterior (per person)."""
        slope = np.where(self._n == 2, self.post_cov[2][a, b] / self.post_cov[2][a, a],
                         self.post_cov[1][a, b] / self.post_cov[1][a, a])
        var_b = np.where(self._n == 2, self.post_cov[2][b, b], self.post_cov[1][b, b])
        var_a = np.where(self._n == 2, self.post_cov[2][a, a], self.post_cov[1][a, a])
        return slope, np.sqrt(np.maximum(var_b - slope**2 * var_a, 1e-300))

    def prob_both_at_least(self, first: str, first_threshold: np.ndarray, first_supplement: np.ndarray,
                           second: str, second_threshold: np.ndarray, second_supplement: np.ndarray) -> np.ndarray:
        """P(both usual totals reach their thresholds | data), from the joint posterior."""
        a, b = self.index(first), self.index(second)
        ua = self.threshold_in_u(first, first_threshold - first_supplement)
        ub = self.threshold_in_u(second, second_threshold - second_supplement)
        slope, sd = self._conditional(a, b)
        mean_a, mean_b = self.post_mean[:, a], self.post_mean[:, b]

        def second_given_first(u, rows):
            return special.ndtr((mean_b[rows, None] + slope[rows, None] * (u - mean_a[rows, None]) - ub[rows, None])
                                / sd[rows, None])

        return truncated_expectation(second_given_first, mean_a, self.post_sd(a), ua)

    def prob_ratio_above(self, numerator: str, numerator_supplement: np.ndarray, denominator: str,
                         denominator_supplement: np.ndarray, ratio: float,
                         denominator_at_least: np.ndarray | None = None) -> np.ndarray:
        """P(usual total numerator > ratio x usual total denominator | data), optionally jointly
        with the denominator's usual total reaching `denominator_at_least`."""
        a, b = self.index(denominator), self.index(numerator)
        slope, sd = self._conditional(a, b)
        mean_a, mean_b = self.post_mean[:, a], self.post_mean[:, b]
        curve_a, curve_b = self.curves[a], self.curves[b]
        eta_a, eta_b = self.eta[:, a], self.eta[:, b]

        def numerator_exceeds(u, rows):
            total_a = curve_a.amount(eta_a[rows, None] + u) + denominator_supplement[rows, None]
            needed = ratio * total_a - numerator_supplement[rows, None]
            ub = curve_b.inverse(needed) - eta_b[rows, None]
            return special.ndtr((mean_b[rows, None] + slope[rows, None] * (u - mean_a[rows, None]) - ub) / sd[rows, None])

        if denominator_at_least is None:
            return normal_expectation(numerator_exceeds, mean_a, self.post_sd(a), small=True)
        ua = self.threshold_in_u(denominator, denominator_at_least - denominator_supplement)
        return truncated_expectation(numerator_exceeds, mean_a, self.post_sd(a), ua)
