"""The population's usual-intake distribution (NCI's DISTRIB): shares below a requirement and
percentiles, overall and in groups, for usual food intake and for usual food + supplement
("shrink then add") intake.

Each person stands for the people with their covariates: usual food intake W(eta_i + u) with
u ~ N(0, between-person variance) (the model's distribution, not the person's posterior).
DISTRIB draws pseudo-persons by Monte Carlo; here the same integral over u is computed
exactly (a normal probability per person), so estimates carry no simulation noise and
replicate weights see only sampling variation. `monte_carlo` reproduces DISTRIB's draws as a
check; the stage reports both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.interpolate import PchipInterpolator

from analysis.core.quantile_rule import weighted_quantiles
from analysis.usual.individual import UsualCurve


@dataclass
class Population:
    """Persons of the distribution: weekday linear predictor, usual supplement intake,
    requirement, weight, group memberships (name -> boolean array), and `pattern`: persons
    with the same pattern share covariates and supplement intake, so their CDFs coincide."""

    eta: np.ndarray
    supplement: np.ndarray
    requirement: np.ndarray
    weights: np.ndarray
    groups: dict[str, np.ndarray]
    pattern: np.ndarray

    @staticmethod
    def patterns(design: np.ndarray, supplement: np.ndarray) -> np.ndarray:
        """Pattern index per person: one per distinct (covariate row, supplement) pair."""
        _, index = np.unique(np.column_stack([design, supplement]), axis=0, return_inverse=True)
        return index.ravel()


def _prob_below(curve: UsualCurve, sd_u: float, eta: np.ndarray, food_amount: np.ndarray) -> np.ndarray:
    """P(W(eta + u) < food_amount) for u ~ N(0, sd_u^2); 0 where food_amount <= 0."""
    return special.ndtr((curve.inverse(food_amount) - eta) / sd_u)


def shares_below(curve: UsualCurve, sd_u: float, pop: Population, with_supplement: bool) -> dict[str, float]:
    """Design-weighted share of usual intake below each person's requirement, per group."""
    supplement = pop.supplement if with_supplement else 0.0
    below = _prob_below(curve, sd_u, pop.eta, pop.requirement - supplement)
    return {name: float(pop.weights[members] @ below[members] / pop.weights[members].sum())
            for name, members in pop.groups.items()}


def percentiles(curve: UsualCurve, sd_u: float, pop: Population, probs: list[float], with_supplement: bool,
                start: dict[str, np.ndarray] | None = None, grid_size: int = 400,
                steps: int = 3) -> dict[str, np.ndarray]:
    """Percentiles of usual intake per group: t solving sum_i w_i P(W(eta_i + u) + s_i <= t) = p.

    Newton's method on that exact mixture CDF, started from `start` (e.g. the full-sample
    percentiles, for a replicate) or from a monotone interpolation of the CDF on a grid.
    """
    supplement = pop.supplement if with_supplement else np.zeros_like(pop.eta)
    pattern = pop.pattern if with_supplement else np.unique(pop.eta, return_inverse=True)[1].ravel()
    n_keys = int(pattern.max()) + 1
    first = np.zeros(n_keys, dtype=int)
    first[pattern[::-1]] = np.arange(len(pattern))[::-1]
    key_eta, key_supp = pop.eta[first][:, None], supplement[first][:, None]
    probs = np.asarray(probs, dtype=float)

    def cdf_and_density(keys: np.ndarray, mass: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, slope = curve.inverse_with_slope(t[None, :] - key_supp[keys])
        z = (s - key_eta[keys]) / sd_u
        return mass @ special.ndtr(z), mass @ (np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi) * slope / sd_u)

    if start is None:
        low = float(curve.amount(pop.eta.min() - 7 * sd_u))
        high = float(curve.amount(pop.eta.max() + 7 * sd_u) + supplement.max())
        grid = np.geomspace(max(low, 1e-6), high, grid_size)
        grid_terms = special.ndtr((curve.inverse(grid[None, :] - key_supp) - key_eta) / sd_u)
    out = {}
    for name, members in pop.groups.items():
        mass = np.bincount(pattern[members], weights=pop.weights[members], minlength=n_keys)
        mass = mass / mass.sum()
        keys = np.flatnonzero(mass > 0)
        if start is None:
            cdf = mass[keys] @ grid_terms[keys]
            rising = np.concatenate([[True], np.diff(cdf) > 1e-14])
            t = np.exp(PchipInterpolator(cdf[rising], np.log(grid[rising]))(probs))
        else:
            t = np.asarray(start[name], dtype=float).copy()
        with np.errstate(divide="ignore", invalid="ignore"):  # a flat stretch: bisection below takes over
            for _ in range(steps):
                value, density = cdf_and_density(keys, mass[keys], t)
                t = t - (value - probs) / density
        value = cdf_and_density(keys, mass[keys], t)[0] if np.all(np.isfinite(t)) else None
        if value is None or np.max(np.abs(value - probs)) > NEWTON_TOLERANCE:
            t = bisect(lambda x: cdf_and_density(keys, mass[keys], x)[0], probs, bracket(curve, sd_u, pop, supplement))
        out[name] = t
    return out


# A percentile whose CDF misses its probability by more than this after Newton's steps (a total
# intake's distribution has near-flat stretches between common supplement doses, where a Newton
# step from a replicate's start overshoots) is found by bisection instead.
NEWTON_TOLERANCE = 1e-8


def bracket(curve: UsualCurve, sd_u: float, pop: Population, supplement: np.ndarray) -> tuple[float, float]:
    """Amounts below and above every person's usual intake but for a 1e-15 tail."""
    low = float(curve.amount(pop.eta.min() - 8 * sd_u))
    return max(low, 1e-9), float(curve.amount(pop.eta.max() + 8 * sd_u) + np.max(supplement, initial=0.0))


def bisect(cdf, probs: np.ndarray, limits: tuple[float, float], iterations: int = 80) -> np.ndarray:
    """t with cdf(t) = p for each p, by bisection on the log scale (the CDF is increasing)."""
    low = np.full(len(probs), np.log(limits[0]))
    high = np.full(len(probs), np.log(limits[1]))
    for _ in range(iterations):
        middle = (low + high) / 2
        below = cdf(np.exp(middle)) < probs
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.exp((low + high) / 2)


def monte_carlo(curve: UsualCurve, sd_u: float, pop: Population, probs: list[float], with_supplement: bool,
                draws: int, seed: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """DISTRIB's way: `draws` pseudo-persons per person (u ~ N(0, sd_u^2)), each with weight
    w_i / draws; shares below the requirement and weighted percentiles per group."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((len(pop.eta), draws)) * sd_u
    usual = curve.amount(pop.eta[:, None] + u)
    if with_supplement:
        usual = usual + pop.supplement[:, None]
    below = (usual < pop.requirement[:, None]).mean(axis=1)
    shares = {name: float(pop.weights[m] @ below[m] / pop.weights[m].sum()) for name, m in pop.groups.items()}
    values = usual.ravel()
    order = np.argsort(values, kind="stable")
    weight_per_draw = np.repeat(pop.weights / draws, draws)[order]
    sorted_values = values[order]
    quantiles = {}
    for name, members in pop.groups.items():
        in_group = np.repeat(members, draws)[order]
        quantiles[name] = weighted_quantiles(sorted_values, weight_per_draw * in_group, probs, presorted=True)
    return shares, quantiles
