"""Box-Cox transformation of 24-hour recall amounts, its inverse, and the survey-weighted
choice of lambda (as NCI's BOXCOX_SURVEY macro: the lambda under which day-1 recalls,
regressed on the model's covariates, have the most normal residuals)."""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize

# lambda is searched in this interval (0 is the log transform).
LAMBDA_BOUNDS = (0.0, 1.0)


def transform(x: np.ndarray, lam: float) -> np.ndarray:
    """(x^lambda - 1) / lambda, or log x at lambda 0; x must be positive."""
    return transform_log(np.log(x), lam)


def transform_log(log_x: np.ndarray, lam: float) -> np.ndarray:
    """The transformation from log x: expm1(lambda log x) / lambda, exact near lambda = 0."""
    return log_x if lam == 0 else np.expm1(lam * log_x) / lam


def inverse(y: np.ndarray, lam: float) -> np.ndarray:
    """The back-transformation; amounts below the transform's floor (-1/lambda) become 0."""
    if lam == 0:
        return np.exp(y)
    with np.errstate(divide="ignore"):  # log 0 = -inf: exp gives the floor's 0
        # exp(log(.) / lambda) rather than power(., 1 / lambda): the same to ~1e-15, and SIMD-fast
        return np.exp(np.log(np.maximum(1.0 + lam * y, 0.0)) * (1.0 / lam))


class Projection:
    """An orthonormal basis q of the column space of the weighted design A = sqrt(w) X: the
    weighted residual sum of squares of z is |z|^2 - |q'z|^2.

    Built from the Cholesky factor R of the column-scaled A'A (q = A D^-1 R^-1, "Cholesky QR"):
    a Gram product, several times cheaper than a Householder QR of A, and orthonormal to
    rounding when the scaled A is well conditioned (what remains of its condition number is
    collinearity, squared in A'A). A design that is rank-deficient or nearly so (a replicate
    that zeroes a small group's rows) gets a QR with column pivoting, whose basis spans the
    columns the design does have."""

    # of the scaled A (estimated by R's diagonal): beyond it q could lose more than 1e-10 of orthogonality
    CONDITION_LIMIT = 1e3

    def __init__(self, design: np.ndarray, sqrt_w: np.ndarray):
        a = design * sqrt_w[:, None]
        gram = a.T @ a
        scale = np.sqrt(np.maximum(np.diag(gram), 1e-300))
        try:
            r = linalg.cholesky(gram / np.outer(scale, scale), lower=False)
            diagonal = np.abs(np.diag(r))
            if diagonal.min() * self.CONDITION_LIMIT < diagonal.max():
                raise np.linalg.LinAlgError("nearly collinear")
            self.q = a @ (linalg.solve_triangular(r, np.eye(len(r)), lower=False) / scale[:, None])
            self.pivoted = False
        except np.linalg.LinAlgError:
            q, r, _ = linalg.qr(a, mode="economic", pivoting=True)
            rank = int(np.sum(np.abs(np.diag(r)) > 1e-10 * abs(r[0, 0])))
            self.q = q[:, :rank]
            self.pivoted = True

    def coordinates(self, z: np.ndarray) -> np.ndarray:
        """q'z: |q'z|^2 = z'Pz, (q'z)'(q'z') = z'Pz'."""
        return self.q.T @ z


def profile_loglik(lam: float, log_x: np.ndarray, projection: Projection, sqrt_w: np.ndarray,
                   log_x_weighted: float, total_weight: float) -> float:
    """Weighted normal log-likelihood of the transformed amounts, beta and sigma profiled out.

    With z = sqrt(w) y the weighted residual sum of squares is |z|^2 - |c(z)|^2 (`projection`
    onto the weighted design); the Jacobian of the transformation contributes
    (lambda - 1) * sum(w log x).
    """
    z = sqrt_w * transform_log(log_x, lam)
    rss = float(z @ z - np.sum(projection.coordinates(z) ** 2))
    return _profiled(rss, lam, log_x_weighted, total_weight)


def _profiled(rss, lam, log_x_weighted: float, total_weight: float):
    """The profile log-likelihood from the weighted residual sum of squares (scalars or arrays)."""
    return -0.5 * total_weight * np.log(rss / total_weight) + (lam - 1.0) * log_x_weighted


def profile_logliks(lams: np.ndarray, log_x: np.ndarray, projection: Projection, sqrt_w: np.ndarray,
                    log_x_weighted: float, total_weight: float) -> np.ndarray:
    """`profile_loglik` at several lambdas at once: one matrix product with the basis for all
    of them (it is read once, not once per lambda)."""
    lams = np.asarray(lams, dtype=float)
    z = np.column_stack([sqrt_w * transform_log(log_x, float(lam)) for lam in lams])
    c = projection.coordinates(z)
    rss = np.einsum("ij,ij->j", z, z) - np.einsum("ij,ij->j", c, c)
    return _profiled(rss, lams, log_x_weighted, total_weight)


def transform_log_slope(log_x: np.ndarray, lam: float) -> np.ndarray:
    """d/d lambda of the transformation: (lambda L e^(lambda L) - expm1(lambda L)) / lambda^2, L = log x
    (its series L^2/2 + lambda L^3/3 near 0)."""
    if abs(lam) < 1e-6:
        return log_x**2 / 2 + lam * log_x**3 / 3
    return (lam * log_x * np.exp(lam * log_x) - np.expm1(lam * log_x)) / lam**2


def profile_score(lam: float, log_x: np.ndarray, projection: Projection, sqrt_w: np.ndarray,
                  log_x_weighted: float, total_weight: float) -> float:
    """d profile_loglik / d lambda: -N/2 (d rss / d lambda) / rss + sum(w log x)."""
    if abs(lam) < 1e-6:
        value, slope_t = transform_log(log_x, lam), transform_log_slope(log_x, lam)
    else:
        grown = np.expm1(lam * log_x)
        value = grown / lam
        slope_t = (lam * log_x * (grown + 1.0) - grown) / lam**2
    z = np.column_stack([sqrt_w * value, sqrt_w * slope_t])
    qz = projection.coordinates(z)  # both projections in one product
    rss = float(z[:, 0] @ z[:, 0] - qz[:, 0] @ qz[:, 0])
    slope = 2.0 * float(z[:, 0] @ z[:, 1] - qz[:, 0] @ qz[:, 1])
    return -0.5 * total_weight * slope / rss + log_x_weighted


def polish(score, found: float, bounds: tuple[float, float], step: float = 1e-5) -> float:
    """The root of the profile score next to `found` (an interior maximum found to ~1e-6 by a
    search on function values): to machine precision, so that lambda, and everything fitted
    after it, does not depend on rounding in the likelihood's last digits. `found` itself when
    no sign change brackets it within the bounds."""
    for _ in range(8):
        low, high = max(bounds[0], found - step), min(bounds[1], found + step)
        if score(low) > 0 > score(high):
            return float(optimize.brentq(score, low, high, xtol=1e-15, rtol=4 * np.finfo(float).eps))
        step *= 4
    return found


def secant_root(score, start: float, bounds: tuple[float, float], max_steps: int = 40) -> float | None:
    """The root of a decreasing score next to `start` (a replicate's lambda next to the full
    sample's), by secant steps until they shrink to rounding noise (the score's last digits
    put the root's own noise near 1e-11); None if the steps leave `bounds`, the score is not
    decreasing (not a maximum) or they do not settle."""
    settled = 1e-9  # below this, a step's direction is rounding noise
    x0, x1 = start, start + (1e-4 if start + 1e-4 < bounds[1] else -1e-4)
    s0, s1 = score(x0), score(x1)
    for _ in range(max_steps):
        if s1 == 0.0:
            return x1
        if s1 == s0 or (s1 - s0) / (x1 - x0) >= 0:
            return x1 if abs(x1 - x0) < settled else None
        x2 = x1 - s1 * (x1 - x0) / (s1 - s0)
        if not bounds[0] < x2 < bounds[1]:
            return None
        if abs(x2 - x1) <= 1e-13 * max(1.0, abs(x2)):
            return x2
        x0, s0, x1, s1 = x1, s1, x2, score(x2)
    return x1 if abs(x1 - x0) < settled else None


def falling_throughout(score, losses, bounds: tuple[float, float], from_edge: float, points: int = 6) -> bool:
    """Whether the likelihood falls all the way from the edge `from_edge` across `bounds`: the
    score points away from the interior at the edge and the loss rises at `points` evenly spaced
    lambdas (`losses`: the loss at an array of lambdas). The maximum is then the edge itself,
    as a search on function values concludes with several times more steps."""
    away = 1.0 if from_edge == bounds[0] else -1.0
    if away * score(from_edge) >= 0:
        return False
    grid = np.linspace(bounds[0], bounds[1], points)
    values = losses(grid if away > 0 else grid[::-1])
    return bool(np.all(values[1:] > values[:-1]))


def estimate_lambdas(amounts: np.ndarray, design: np.ndarray, weights: np.ndarray,
                     near: np.ndarray | None = None, radius: float = 0.05) -> np.ndarray:
    """Per column of `amounts`, the lambda in LAMBDA_BOUNDS maximizing the weighted profile
    likelihood of that column given `design` (one projection serves every column); an interior
    maximum is then polished to the root of the profile score.

    `near`: known nearby maxima (the full sample's, for a replicate): an interior one is followed
    by secant steps on the score (the same root, in a few evaluations); otherwise the search
    starts in +-`radius` around them and widens to LAMBDA_BOUNDS if the maximum sits on that edge.
    """
    keep = weights > 0
    amounts, design, weights = amounts[keep], design[keep], weights[keep]
    sqrt_w = np.sqrt(weights)
    projection = Projection(design, sqrt_w)
    total = float(weights.sum())
    lambdas = []
    for j, x in enumerate(amounts.T):
        log_x = np.log(x)
        log_x_weighted = float(weights @ log_x)

        def loss(lam: float, log_x=log_x, log_x_weighted=log_x_weighted) -> float:
            return -profile_loglik(lam, log_x, projection, sqrt_w, log_x_weighted, total)

        def losses(lams: np.ndarray, log_x=log_x, log_x_weighted=log_x_weighted) -> np.ndarray:
            return -profile_logliks(lams, log_x, projection, sqrt_w, log_x_weighted, total)

        def score(lam: float, log_x=log_x, log_x_weighted=log_x_weighted) -> float:
            return profile_score(lam, log_x, projection, sqrt_w, log_x_weighted, total)

        def search(bounds: tuple[float, float], loss=loss, score=score) -> float:
            found = float(optimize.minimize_scalar(loss, bounds=bounds, method="bounded",
                                                   options={"xatol": 1e-6}).x)
            # the bounded search never evaluates the ends themselves (e.g. exactly the log transform)
            best = min([found, *bounds], key=loss)
            return best if best in bounds else polish(score, best, bounds)

        if near is None:
            lambdas.append(search(LAMBDA_BOUNDS))
            continue
        bounds = (max(LAMBDA_BOUNDS[0], near[j] - radius), min(LAMBDA_BOUNDS[1], near[j] + radius))
        if LAMBDA_BOUNDS[0] < near[j] < LAMBDA_BOUNDS[1]:  # an interior maximum moves a little: follow the score
            root = secant_root(score, near[j], bounds)
            if root is not None:
                lambdas.append(root)
                continue
        elif falling_throughout(score, losses, bounds, from_edge=near[j]):  # still at its edge (e.g. the log transform)
            lambdas.append(float(near[j]))
            continue
        found = search(bounds)
        on_inner_edge = [b for b in bounds if b not in LAMBDA_BOUNDS and abs(found - b) < 1e-4]
        lambdas.append(search(LAMBDA_BOUNDS) if on_inner_edge else found)
    return np.array(lambdas)
