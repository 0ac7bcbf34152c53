"""The usual-intake model on small data built here: variance components against a direct
computation, probabilities against closed forms, the distribution against its definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from analysis.clean import derive
from analysis.usual import boxcox, distribution
from analysis.usual.individual import Individuals, UsualCurve
from analysis.usual.model import Nutrient, Parameters, fit, recall_data


def tiny_frame() -> pd.DataFrame:
    """Eight persons, two nutrients, six with a second recall; a numeric and a categorical covariate."""
    return pd.DataFrame({
        "a1": [210.0, 340.0, 150.0, 420.0, 280.0, 190.0, 305.0, 260.0],
        "a2": [250.0, 300.0, 170.0, 390.0, np.nan, 230.0, np.nan, 240.0],
        "b1": [900.0, 1300.0, 600.0, 1500.0, 1000.0, 800.0, 1200.0, 1000.0],
        "b2": [1000.0, 1100.0, 700.0, 1400.0, np.nan, 950.0, np.nan, 880.0],
        "age": [25.0, 40.0, 61.0, 33.0, 52.0, 70.0, 45.0, 38.0],
        "sex": pd.array(["male", "female", "female", "male", "male", "female", "male", "female"], dtype="string"),
        "wt_day1": [1.0, 2.0, 1.5, 1.0, 3.0, 2.5, 1.0, 2.0],
        "wt_day2": [1.2, 1.8, 1.5, 0.9, 0.0, 2.4, 0.0, 2.2],
    })


def tiny_data():
    return recall_data(tiny_frame(), [Nutrient("a", "a1", "a2"), Nutrient("b", "b1", "b2")], ["age"], {"sex": "female"})


def test_variance_components_equal_a_direct_computation():
    data = tiny_data()
    fitted = fit(data)
    f = tiny_frame()
    # fixed effects: weighted least squares over every recall, by statsmodels
    import statsmodels.api as sm
    records = []
    for day, (ca, cb, w) in enumerate([("a1", "b1", "wt_day1"), ("a2", "b2", "wt_day1")]):
        part = f[f[ca].notna()]
        records.append(pd.DataFrame({"a": part[ca], "b": part[cb], "age": part["age"], "male": (part["sex"] == "male").astype(float),
                                     "day2": float(day), "w": part["wt_day1"], "person": part.index}))
    long = pd.concat(records, ignore_index=True)
    x = sm.add_constant(long[["age", "male", "day2"]])
    residuals = {}
    for j, name in enumerate(["a", "b"]):
        y = boxcox.transform(long[name].to_numpy(), fitted.lambdas[j])
        model = sm.WLS(y, x, weights=long["w"]).fit()
        np.testing.assert_allclose(fitted.beta[:, j], model.params.to_numpy(), rtol=1e-9)
        residuals[name] = pd.Series(model.resid.to_numpy(), index=[long["person"], long["day2"]])
    # variance components from the persons with two recalls, by hand with the two-day weight
    two = [i for i in f.index if pd.notna(f.loc[i, "a2"]) and f.loc[i, "wt_day2"] > 0]
    w = f.loc[two, "wt_day2"].to_numpy()
    r1 = np.array([[residuals[n][(i, 0.0)] for n in "ab"] for i in two])
    r2 = np.array([[residuals[n][(i, 1.0)] for n in "ab"] for i in two])
    m1, m2 = np.average(r1, axis=0, weights=w), np.average(r2, axis=0, weights=w)
    between = sum(wi * np.outer(a - m1, b - m2) for wi, a, b in zip(w, r1, r2)) / w.sum()
    between = (between + between.T) / 2
    d = r1 - r2
    md = np.average(d, axis=0, weights=w)
    within = sum(wi * np.outer(x_ - md, x_ - md) for wi, x_ in zip(w, d)) / w.sum() / 2
    np.testing.assert_allclose(fitted.sigma_u, between, rtol=1e-9)
    np.testing.assert_allclose(fitted.sigma_e, within, rtol=1e-9)


def test_lambda_is_found_where_the_data_are_normal():
    rng = np.random.default_rng(3)
    n = 40000
    design = np.ones((n, 1))
    log_normal = np.exp(rng.normal(5.5, 0.4, n))
    square_root_normal = rng.normal(20, 2, n) ** 2  # normal after the lambda = 0.5 transformation
    lambdas = boxcox.estimate_lambdas(np.column_stack([log_normal, square_root_normal]), design, np.ones(n))
    assert lambdas[0] == pytest.approx(0.0, abs=0.03)
    assert lambdas[1] == pytest.approx(0.5, abs=0.05)
    assert boxcox.inverse(boxcox.transform(np.array([3.0, 250.0]), 0.37), 0.37) == pytest.approx([3.0, 250.0])


def test_lambda_is_the_likelihood_maximum_to_machine_precision():
    """An interior lambda solves the profile score to ~1e-11, so rounding in the likelihood's last
    digits (another row order, another summation path) cannot move it, and the score is the
    likelihood's derivative."""
    rng = np.random.default_rng(5)
    n = 20000
    design = np.column_stack([np.ones(n), rng.normal(size=n)])
    amounts = (rng.normal(20, 2, n) + design[:, 1]) ** 2.5  # normal near lambda = 0.4
    weights = rng.uniform(0.5, 3.0, n)
    first = boxcox.estimate_lambdas(amounts[:, None], design, weights)[0]
    order = rng.permutation(n)
    second = boxcox.estimate_lambdas(amounts[order, None], design[order], weights[order])[0]
    assert 0.2 < first < 0.6
    assert abs(first - second) < 1e-10
    sqrt_w = np.sqrt(weights)
    args = (np.log(amounts), boxcox.Projection(design, sqrt_w), sqrt_w, float(weights @ np.log(amounts)), float(weights.sum()))
    h = 1e-5
    numeric = (boxcox.profile_loglik(first + h, *args) - boxcox.profile_loglik(first - h, *args)) / (2 * h)
    slope = boxcox.profile_score(first + 0.01, *args)
    assert abs(boxcox.profile_score(first, *args)) < 1e-6 * abs(slope)
    assert abs(numeric) < 1e-3 * abs(slope)
    assert boxcox.profile_score(first + 0.01, *args) == pytest.approx(
        (boxcox.profile_loglik(first + 0.01 + h, *args) - boxcox.profile_loglik(first + 0.01 - h, *args)) / (2 * h),
        rel=1e-4)


def hand_built(lam: float = 0.0):
    """One nutrient, log scale, no covariates: sigma_u^2 = 0.1, sigma_e^2 = 0.16, mean 5.6."""
    frame = pd.DataFrame({"x1": [300.0, 180.0], "x2": [260.0, np.nan], "wt_day1": [1.0, 1.0], "wt_day2": [1.0, 0.0]})
    data = recall_data(frame, [Nutrient("mg", "x1", "x2")], [], {})
    params = Parameters(("mg",), np.array([lam]), np.array([[5.6], [0.0]]), ("_intercept_", "day2"),
                        np.array([[0.10]]), np.array([[0.16]]))
    return data, params, Individuals(data, params)


def test_probability_of_adequacy_is_the_closed_form_normal_tail():
    data, params, ind = hand_built()
    su, se, eta = 0.10, 0.16, 5.6
    ear, supplement = np.array([265.0, 265.0]), np.array([0.0, 40.0])
    got = ind.prob_at_least("mg", ear, supplement)
    expected = []
    for person, n in [(0, 2), (1, 1)]:
        rbar = np.log(data.amounts[person, :n, 0]).mean() - eta
        gain = su / (su + se / n)
        mean, var = gain * rbar, su * (1 - gain)
        # usual intake exp(eta + u + se/2) >= ear - supplement  <=>  u >= log(ear - supplement) - se/2 - eta
        threshold = np.log(ear[person] - supplement[person]) - se / 2 - eta
        expected.append(stats.norm.sf(threshold, loc=mean, scale=np.sqrt(var)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the expected usual intake integrates the back-transformation: exp(eta + mean + var/2 + se/2)
    rbar = np.log(data.amounts[0, :2, 0]).mean() - eta
    gain = su / (su + se / 2)
    closed = np.exp(eta + gain * rbar + su * (1 - gain) / 2 + se / 2)
    assert ind.expected_usual("mg")[0] == pytest.approx(closed, rel=1e-9)
    # plugging the posterior mean into the back-transformation would be biased low
    assert np.exp(eta + gain * rbar) < 0.95 * closed


def test_supplement_covering_the_ear_gives_certainty():
    _, _, ind = hand_built()
    assert ind.prob_at_least("mg", np.array([265.0, 265.0]), np.array([265.0, 300.0])).tolist() == [1.0, 1.0]


def two_nutrient_individuals():
    frame = pd.DataFrame({"x1": [300.0, 180.0, 240.0], "x2": [260.0, np.nan, 200.0], "y1": [8.0, 2.0, 5.0],
                          "y2": [6.0, np.nan, 3.0], "wt_day1": 1.0, "wt_day2": [1.0, 0.0, 1.0]})
    data = recall_data(frame, [Nutrient("mg", "x1", "x2"), Nutrient("vitd", "y1", "y2")], [], {})
    params = Parameters(("mg", "vitd"), np.array([0.0, 0.0]), np.array([[5.6, 1.4], [0.0, 0.0]]),
                        ("_intercept_", "day2"), np.array([[0.10, 0.09], [0.09, 0.36]]),
                        np.array([[0.16, 0.2], [0.2, 0.48]]))
    return Individuals(data, params)


def test_joint_adequacy_is_the_bivariate_normal_rectangle():
    ind = two_nutrient_individuals()
    ear, vd_ear = np.full(3, 265.0), np.full(3, 5.0)
    supp = np.array([0.0, 30.0, 0.0])
    got = ind.prob_both_at_least("mg", ear, supp, "vitd", vd_ear, np.zeros(3))
    for person in range(3):
        n = ind.data.n_recalls[person]
        cov = ind.post_cov[n]
        a = np.log(ear[person] - supp[person]) - 0.16 / 2 - 5.6
        b = np.log(vd_ear[person]) - 0.48 / 2 - 1.4
        mean = ind.post_mean[person]
        # P(u1 >= a, u2 >= b) = P(-u1 <= -a, -u2 <= -b)
        expected = stats.multivariate_normal(mean=-mean, cov=cov, abseps=1e-9, releps=1e-9).cdf([-a, -b])
        assert got[person] == pytest.approx(expected, abs=1e-5)


def test_ratio_probability_matches_a_two_dimensional_integral():
    ind = two_nutrient_individuals()
    supp_num, supp_den = np.array([0.0, 0.0, 2.0]), np.array([0.0, 50.0, 0.0])
    got = ind.prob_ratio_above("vitd", supp_num, "mg", supp_den, 0.02)
    for person in range(3):
        n = ind.data.n_recalls[person]
        cov, m = ind.post_cov[n], ind.post_mean[person]
        sd_u = np.sqrt(cov[0, 0])
        slope = cov[0, 1] / cov[0, 0]
        sd_v = np.sqrt(cov[1, 1] - slope**2 * cov[0, 0])

        def integrand(u):  # u: magnesium deviation; vitamin D's deviation given u is normal
            mg = np.exp(5.6 + u + 0.08) + supp_den[person]
            needed = 0.02 * mg - supp_num[person]
            if needed <= 0:
                return stats.norm.pdf(u, m[0], sd_u)
            v_star = np.log(needed) - 0.24 - 1.4
            return stats.norm.pdf(u, m[0], sd_u) * stats.norm.sf(v_star, m[1] + slope * (u - m[0]), sd_v)

        expected, _ = integrate.quad(integrand, m[0] - 10 * sd_u, m[0] + 10 * sd_u, epsabs=1e-10, limit=200)
        assert got[person] == pytest.approx(expected, abs=1e-4)


def test_usual_curve_inverse_and_table():
    curve = UsualCurve(0.25, 0.4, 0.1, 5.0, 30.0)
    s = np.array([8.0, 12.5, 20.0])
    amounts = curve.value(s)
    np.testing.assert_allclose(curve.inverse(amounts), s, rtol=1e-7)
    np.testing.assert_allclose(curve.amount(s), amounts, rtol=1e-6)
    assert curve.inverse(np.array([0.0, -5.0])).tolist() == [-np.inf, -np.inf]


def test_distribution_percentiles_invert_the_mixture_cdf():
    rng = np.random.default_rng(5)
    n = 500
    curve = UsualCurve(0.0, 0.4, 0.0, 3.0, 9.0)
    eta = rng.choice([5.4, 5.6, 5.8], n)
    supplement = np.where(rng.random(n) < 0.2, rng.choice([50.0, 100.0], n), 0.0)
    weights = rng.uniform(1, 3, n)
    groups = {"all": np.ones(n, bool), "half": np.arange(n) < n // 2}
    pop = distribution.Population(eta, supplement, np.full(n, 265.0), weights, groups,
                                  distribution.Population.patterns(eta[:, None], supplement))
    sd_u = 0.3
    probs = [0.05, 0.5, 0.95]
    got = distribution.percentiles(curve, sd_u, pop, probs, with_supplement=True)
    for name, members in groups.items():
        def cdf(t):
            below = stats.norm.cdf((curve.inverse(t - supplement[members]) - eta[members]) / sd_u)
            return weights[members] @ below / weights[members].sum()

        expected = [optimize.brentq(lambda t: cdf(t) - p, 1, 5000, xtol=1e-10) for p in probs]
        np.testing.assert_allclose(got[name], expected, rtol=1e-6)
    # shares: P(usual < EAR) averaged with the weights
    share = distribution.shares_below(curve, sd_u, pop, with_supplement=False)["all"]
    expected = weights @ stats.norm.cdf((curve.inverse(np.full(n, 265.0)) - eta) / sd_u) / weights.sum()
    assert share == pytest.approx(expected, rel=1e-12)
    # DISTRIB's Monte Carlo agrees within its simulation error
    mc_shares, mc_quantiles = distribution.monte_carlo(curve, sd_u, pop, probs, True, draws=400, seed=1)
    assert mc_shares["all"] == pytest.approx(distribution.shares_below(curve, sd_u, pop, True)["all"], abs=0.01)
    np.testing.assert_allclose(mc_quantiles["all"], got["all"], rtol=0.02)


def test_usual_supplement_prefers_the_30_day_questionnaire():
    thirty = pd.Series([100.0, np.nan, np.nan, np.nan, 0.0])
    day1 = pd.Series([0.0, 40.0, 40.0, np.nan, 25.0])
    day2 = pd.Series([0.0, 60.0, np.nan, np.nan, 25.0])
    assert derive.usual_supplement(thirty, day1, day2).tolist()[:3] == [100.0, 50.0, 40.0]
    assert np.isnan(derive.usual_supplement(thirty, day1, day2).iloc[3])
    source = derive.usual_supplement_source(pd.Series([3.0, np.nan, np.nan, np.nan, 1.0]), pd.Series([1.0, 2.0, 1.0, np.nan, 1.0]),
                                            pd.Series([1.0, 2.0, np.nan, np.nan, 1.0]))
    assert source.tolist()[:3] == ["30-day questionnaire", "24-hour recalls", "24-hour recalls"]
    assert pd.isna(source.iloc[3])


def test_weekend_is_friday_to_sunday():
    out = derive.weekend_recall(pd.Series([1.0, 2.0, 5.0, 6.0, 7.0, np.nan]))
    assert out.tolist()[:5] == [True, False, False, True, True]
    assert pd.isna(out.iloc[5])


def test_a_replicates_lambda_follows_the_score_to_the_same_maximum():
    """From a nearby start (the full sample's lambda), the replicate's lambda is the root the full
    search finds, to rounding."""
    rng = np.random.default_rng(8)
    n = 20000
    design = np.column_stack([np.ones(n), rng.normal(size=n)])
    amounts = np.column_stack([(rng.normal(20, 2, n) + design[:, 1]) ** 2.5, np.exp(rng.normal(5, 0.5, n))])
    weights = rng.uniform(0.5, 3.0, n)
    full = boxcox.estimate_lambdas(amounts, design, weights)
    factor = np.where(rng.random(n) < 0.05, 0.0, 1.05)  # a replicate: some rows dropped, the rest reweighted
    searched = boxcox.estimate_lambdas(amounts, design, weights * factor)
    followed = boxcox.estimate_lambdas(amounts, design, weights * factor, near=full)
    assert 0 < full[0] < 1 and searched[0] != full[0]
    np.testing.assert_allclose(followed, searched, rtol=0, atol=1e-10)


def test_projection_equals_the_qr_projection_and_survives_a_dropped_group():
    """The Cholesky projection gives the QR's |Pz|^2 and z'Pz' to rounding on a badly scaled
    design (energy in kcal beside an intercept and a rare dummy); a design whose dummy has no
    weighted rows left (as a replicate can leave it) is projected by the QR basis."""
    rng = np.random.default_rng(11)
    n = 5000
    rare = (rng.random(n) < 0.01).astype(float)
    design = np.column_stack([np.ones(n), rng.normal(2000, 600, n), rng.normal(50, 17, n), rare])
    sqrt_w = np.sqrt(rng.uniform(0.5, 3.0, n))
    z = rng.normal(size=(n, 2)) + design[:, 1:3] * 1e-3
    q, _ = np.linalg.qr(design * sqrt_w[:, None])
    projection = boxcox.Projection(design, sqrt_w)
    assert not projection.pivoted  # the fast path
    np.testing.assert_allclose(projection.q.T @ projection.q, np.eye(4), atol=1e-13)
    expected, got = (q.T @ z), projection.coordinates(z)
    np.testing.assert_allclose(got.T @ got, expected.T @ expected, rtol=1e-12)
    np.testing.assert_allclose(projection.coordinates(z[:, 0]) @ projection.coordinates(z[:, 0]),
                               expected[:, 0] @ expected[:, 0], rtol=1e-12)
    dropped = np.where(rare > 0, 0.0, sqrt_w)  # the dummy's rows all weigh 0: a column of zeros
    fallback = boxcox.Projection(design, dropped)
    assert fallback.pivoted and fallback.q.shape[1] == 3
    q2, _ = np.linalg.qr(design[:, :3] * dropped[:, None])
    c = fallback.coordinates(z * dropped[:, None])
    e = q2.T @ (z * dropped[:, None])
    np.testing.assert_allclose(c.T @ c, e.T @ e, rtol=1e-10)


def test_loglik_at_many_lambdas_equals_one_at_a_time():
    rng = np.random.default_rng(12)
    n = 3000
    design = np.column_stack([np.ones(n), rng.normal(size=n)])
    amounts = np.exp(rng.normal(5, 0.5, n) + 0.2 * design[:, 1])
    sqrt_w = np.sqrt(rng.uniform(0.5, 3.0, n))
    args = (np.log(amounts), boxcox.Projection(design, sqrt_w), sqrt_w, float(sqrt_w**2 @ np.log(amounts)),
            float((sqrt_w**2).sum()))
    lams = np.array([0.0, 0.01, 0.2, 0.5, 1.0])
    np.testing.assert_allclose(boxcox.profile_logliks(lams, *args), [boxcox.profile_loglik(lam, *args) for lam in lams],
                               rtol=1e-12)
