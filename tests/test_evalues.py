"""E-values against the worked values of VanderWeele & Ding (Ann Intern Med 2017), and their
place in the pipeline's outputs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.analyses import evalues


def test_the_papers_example_risk_ratio():
    # breastfeeding and infant respiratory death: RR 3.9 (1.8 to 8.7) -> E-value 7.26, CI limit 3.0
    rr, near, e, e_ci = evalues.evalue_with_ci("RR", 3.9, 1.8, 8.7)
    assert e == pytest.approx(7.26, abs=0.005)
    assert e_ci == pytest.approx(3.0, abs=0.005)
    assert near == 1.8


def test_protective_estimates_are_inverted():
    assert evalues.evalue_rr(0.8) == pytest.approx(1.25 + math.sqrt(1.25 * 0.25))
    _, near, _, e_ci = evalues.evalue_with_ci("RR", 0.5, 0.3, 0.8)
    assert near == 0.8 and e_ci == pytest.approx(evalues.evalue_rr(0.8))


def test_ci_including_the_null_gives_one():
    assert evalues.evalue_with_ci("RR", 1.3, 0.9, 1.8)[3] == 1.0


def test_conversions_of_odds_ratios_and_mean_differences():
    # a common outcome: OR 2.0 -> RR sqrt(2); a rare one: as it is
    assert evalues.rr_from("OR", 2.0, prevalence=0.30) == pytest.approx(math.sqrt(2.0))
    assert evalues.rr_from("OR", 2.0, prevalence=0.05) == 2.0
    # a mean difference of half an SD: RR = exp(0.91 x 0.5)
    assert evalues.rr_from("MD", 5.0, sd=10.0) == pytest.approx(math.exp(0.455))
    assert evalues.evalue_with_ci("MD", 5.0, 1.0, 9.0, sd=10.0)[2] == pytest.approx(
        math.exp(0.455) + math.sqrt(math.exp(0.455) * (math.exp(0.455) - 1)))


def test_hazard_ratio_conversion():
    # rare by the end of follow-up: as it is; common: VanderWeele's (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))
    assert evalues.rr_from("HR", 0.7, prevalence=0.03) == 0.7
    common = evalues.rr_from("HR", 2.0, prevalence=0.4)
    assert common == pytest.approx((1 - 0.5 ** math.sqrt(2)) / (1 - 0.5 ** math.sqrt(0.5)))
    assert 1 < common < 2


@pytest.mark.mirror
def test_every_claim_has_an_e_value_row_and_the_report_shows_them(analyzed_project):
    table = pd.read_csv(analyzed_project / "reports/tables/e_values.csv")
    assert set(table["claim_id"]) == {f"C{i}" for i in range(1, 12)} | {"C1b"}
    c1 = table[table["claim_id"] == "C1"].iloc[0]
    assert c1["e_value"] >= c1["e_value_ci"] >= 1 and "SD" in c1["conversion"]
    assert table["sentence"].notna().all()
    claims = pd.read_csv(analyzed_project / "reports/claims.csv").set_index("claim_id")
    assert claims.loc["C1", "e_values"].startswith(f"{c1['e_value']:.2f}")
    assert claims.loc["C6", "e_values"] == "not applicable"
