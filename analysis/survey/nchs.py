"""NCHS reliability rules: may an estimate be shown, and with what warning?

Proportions: Parker et al., National Center for Health Statistics Data Presentation Standards
for Proportions, Vital Health Stat 2(175), 2017, with the Korn-Graubard interval:
1. suppress if the effective sample size is below 30 (for 0% and 100%: the sample size);
2. suppress if the interval is 0.30 wide or wider;
3. suppress if the interval is wider than 0.05 and its width is more than 130% of the estimate;
4. flag for statistical review if the degrees of freedom are below 8.
The effective sample size is p(1 - p) / SE^2 (n / design effect), capped at n, times
(t(0.975, n - 1) / t(0.975, df))^2 when the df are fewer than n - 1.

Means, percentiles and totals: NCHS's long-standing rule, flagged (not suppressed) when the
relative standard error is 30% or more, or the sample has fewer than 30 people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.survey.intervals import t_critical

MIN_EFFECTIVE_N = 30
MAX_WIDTH = 0.30
SMALL_WIDTH = 0.05
MAX_RELATIVE_WIDTH = 1.30
MIN_DF = 8
MAX_RSE = 0.30


@dataclass
class Verdict:
    suppress: bool = False
    review: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "suppressed" if self.suppress else "statistical review" if self.review else "flagged" if self.reasons else ""


def effective_sample_size(p: float, se: float, n: int, df: float) -> float:
    if p in (0.0, 1.0) or se <= 0:
        return float(n)
    n_eff = min(p * (1 - p) / se**2, n)
    if df < n - 1:
        n_eff *= (t_critical(n - 1) / t_critical(df)) ** 2
    return float(n_eff)


def proportion(p: float, se: float, ci_low: float, ci_high: float, n: int, df: float) -> tuple[Verdict, float]:
    """(the verdict, the effective sample size) for a proportion with its Korn-Graubard CI."""
    verdict = Verdict()
    n_eff = effective_sample_size(p, se, n, df)
    width = ci_high - ci_low
    if n_eff < MIN_EFFECTIVE_N:
        verdict.suppress = True
        verdict.reasons.append(f"effective sample size {n_eff:.1f} < {MIN_EFFECTIVE_N}")
    if width >= MAX_WIDTH:
        verdict.suppress = True
        verdict.reasons.append(f"CI width {width:.3f} >= {MAX_WIDTH}")
    elif width > SMALL_WIDTH and p > 0 and width / p > MAX_RELATIVE_WIDTH:
        verdict.suppress = True
        verdict.reasons.append(f"relative CI width {100 * width / p:.0f}% > {100 * MAX_RELATIVE_WIDTH:.0f}%")
    if df < MIN_DF:
        verdict.review = True
        verdict.reasons.append(f"degrees of freedom {df:g} < {MIN_DF}")
    return verdict, n_eff


def other(estimate: float, se: float, n: int, df: float) -> Verdict:
    """Means, percentiles and totals: relative standard error and sample size."""
    verdict = Verdict()
    if estimate != 0 and abs(se / estimate) >= MAX_RSE:
        verdict.reasons.append(f"relative standard error {100 * abs(se / estimate):.0f}% >= {100 * MAX_RSE:.0f}%")
    if n < MIN_EFFECTIVE_N:
        verdict.reasons.append(f"sample size {n} < {MIN_EFFECTIVE_N}")
    if df < MIN_DF:
        verdict.review = True
        verdict.reasons.append(f"degrees of freedom {df:g} < {MIN_DF}")
    return verdict
