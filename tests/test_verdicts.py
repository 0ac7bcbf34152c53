"""The verdict engine: each rule on estimates chosen to fall on each side of its bounds."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.claims import registry as claims
from analysis.claims.registry import Evidence, decide
from analysis.core.config import load_params
from analysis.core.errors import ConfigError
from tests.conftest import REPO


def e(low: float, high: float) -> Evidence:
    return Evidence((low + high) / 2, low, high)


GREATER = {"rule": "greater_than", "h0": 0, "margin": 5}
LESS = {"rule": "less_than", "h0": 1, "margin": 0.75}
EQUIV = {"rule": "equivalent", "margin": 1}
ALL = {"rule": "all_at_least", "margin": 0.2}


@pytest.mark.parametrize("rule,evidence,expected", [
    (GREATER, [e(0.5, 9)], claims.SUPPORTED),
    (GREATER, [e(-3, 4.9)], claims.CONTRADICTED),
    (GREATER, [e(-8, -2)], claims.CONTRADICTED),
    (GREATER, [e(-1, 7)], claims.INCONCLUSIVE),
    (LESS, [e(0.5, 0.95)], claims.SUPPORTED),
    (LESS, [e(0.8, 1.3)], claims.CONTRADICTED),
    (LESS, [e(0.5, 1.1)], claims.INCONCLUSIVE),
    (EQUIV, [e(-0.5, 0.8)], claims.SUPPORTED),
    (EQUIV, [e(0.2, 3)], claims.CONTRADICTED),
    (EQUIV, [e(-0.5, 1.5)], claims.INCONCLUSIVE),
    (ALL, [e(0.3, 0.4), e(0.21, 0.25)], claims.SUPPORTED),
    (ALL, [e(0.3, 0.4), e(0.05, 0.1)], claims.CONTRADICTED),
    (ALL, [e(0.3, 0.4), e(0.15, 0.25)], claims.INCONCLUSIVE),
    ({"rule": "not_testable"}, [], claims.NOT_TESTABLE),
    ({"rule": "fact_check", "verdict": "contradicted"}, [], claims.CONTRADICTED),
])
def test_rules(rule, evidence, expected):
    assert decide(rule, evidence) == expected


def test_unknown_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown rule 'maybe'"):
        decide({"rule": "maybe"}, [e(0, 1)])


def test_every_claim_has_a_rule_and_a_description():
    params = load_params(REPO / "params.yaml")
    registry = claims.registry()
    assert list(registry) == ["C1", "C1b"] + [f"C{i}" for i in range(2, 12)]
    for cid in registry:
        rule = params["verdicts"][cid]
        assert claims.describe(rule)
        assert rule["test"]


C9_RULE = load_params(REPO / "params.yaml")["verdicts"]["C9"]
C10_RULE = load_params(REPO / "params.yaml")["verdicts"]["C10"]


@pytest.mark.parametrize("rule,evidence,expected", [
    # C9: dose OR among Mg-inadequate above 1, and the ratio adequate/inadequate below 1
    (C9_RULE, [e(1.1, 1.6), e(0.4, 0.9)], claims.SUPPORTED),
    (C9_RULE, [e(1.1, 1.6), e(0.6, 1.3)], claims.INCONCLUSIVE),   # positive, but not clearly less where adequate
    (C9_RULE, [e(0.8, 1.04), e(0.4, 0.9)], claims.CONTRADICTED),   # clearly no harmful dose association
    (C9_RULE, [e(1.1, 1.6), e(1.05, 1.5)], claims.CONTRADICTED),   # larger where magnesium is adequate
    (C10_RULE, [e(0.85, 0.95), e(0.8, 0.97)], claims.SUPPORTED),
    (C10_RULE, [e(0.85, 0.95), e(0.9, 1.1)], claims.INCONCLUSIVE),
    (C10_RULE, [e(0.85, 0.95), e(0.96, 1.2)], claims.CONTRADICTED),  # magnesium half excludes a 5% reduction
])
def test_all_of_rules_need_every_part(rule, evidence, expected):
    assert decide(rule, evidence) == expected


def test_all_of_needs_an_estimate_per_part():
    with pytest.raises(ConfigError, match="2 parts but 1 estimate"):
        decide(C9_RULE, [e(1.1, 1.6)])
    assert "supported only if every part is" in claims.describe(C9_RULE)


DOSES = {"rule": "within_observed_doses", "h0": 0, "margin": 10, "dose_percentile": 95}


def doses(difference: Evidence, inadequate: float, adequate: float, upper: float = 125.0) -> list[Evidence]:
    return [difference, Evidence(inadequate, inadequate - 5, inadequate + 5, label="dose where inadequate"),
            Evidence(adequate, adequate - 5, adequate + 5, label="dose where adequate"),
            Evidence(upper, upper, upper, label="observed doses")]


@pytest.mark.parametrize("inadequate,adequate,difference,expected", [
    (40.0, 16.0, e(17, 31), claims.SUPPORTED),         # both inside: the greater_than rule decides
    (20.0, 18.0, e(-3, 7), claims.CONTRADICTED),
    (7.0, -16.9, e(17, 31), claims.INCONCLUSIVE),      # adequate reaches 50 nmol/L without supplements
    (300.0, 60.0, e(200, 280), claims.INCONCLUSIVE),   # beyond the doses people took
])
def test_c3_rule_decides_only_on_doses_inside_the_observed_range(inadequate, adequate, difference, expected):
    assert decide(DOSES, doses(difference, inadequate, adequate)) == expected


def test_dose_status_and_reason_name_where_each_dose_lies():
    assert claims.dose_status(-0.1, 125) == claims.WITHOUT_SUPPLEMENTS
    assert claims.dose_status(0.0, 125) == claims.dose_status(125.0, 125) == claims.INSIDE
    assert claims.dose_status(125.1, 125) == claims.BEYOND
    reason = claims.dose_range_reason(doses(e(17, 31), 7.0, -16.9))
    assert "dose where adequate: -16.9 ug/day (reached without supplements)" in reason
    assert "observed doses: 0 to 125 ug/day" in reason
    assert "inside the observed doses" in claims.describe(DOSES)


def test_the_c3_rule_in_params_was_changed_with_its_reason():
    text = (REPO / "params.yaml").read_text(encoding="utf-8")
    assert "rule changed 2026-12-01" in text
    assert load_params(REPO / "params.yaml")["verdicts"]["C3"]["rule"] == "within_observed_doses"


def test_c11_rule_needs_a_hazard_ratio_below_one_and_rejects_small_protection():
    rule = load_params(REPO / "params.yaml")["verdicts"]["C11"]
    assert claims.decide(rule, [claims.Evidence(0.7, 0.55, 0.89)]) == claims.SUPPORTED
    assert claims.decide(rule, [claims.Evidence(0.69, 0.44, 1.07)]) == claims.INCONCLUSIVE
    assert claims.decide(rule, [claims.Evidence(1.0, 0.92, 1.09)]) == claims.CONTRADICTED  # excludes >= 10% lower


def dose_evidence(adequate_dose: float) -> list[Evidence]:
    return [Evidence(23.9, 17.4, 30.3, 2e-10, "dose difference (ug/day)"), Evidence(7.0, 2.0, 12.0, label="dose where inadequate"),
            Evidence(adequate_dose, adequate_dose - 5, adequate_dose + 5, label="dose where adequate"),
            Evidence(125.0, 125.0, 125.0, label="observed doses")]


def test_a_dose_outside_the_observed_doses_leaves_no_estimate_in_the_claims_table():
    from analysis.analyses.common import Result
    from analysis.claims import stage

    params = load_params(REPO / "params.yaml")
    rule = params["verdicts"]["C3"]
    assert claims.has_estimate(rule, dose_evidence(3.0)) and not claims.has_estimate(rule, dose_evidence(-16.9))
    registry = {"C3": claims.registry()["C3"]}
    for dose, shown in [(-16.9, False), (3.0, True)]:
        row = stage.claim_rows(registry, {"C3": Result(evidence=dose_evidence(dose))}, {}, None, params, "").iloc[0]
        if shown:  # both doses inside: the difference (CI 17.4 to 30.3, above the margin 10) decides
            assert row["verdict"] == claims.SUPPORTED
            assert row["estimate"] == 23.9 and row["p_value"] == 2e-10
        else:
            assert row["verdict"] == claims.INCONCLUSIVE
            assert pd.isna(row["estimate"]) and pd.isna(row["ci_low"]) and pd.isna(row["p_value"])
            assert row["reason"].startswith("no estimate: a group's dose lies outside the observed doses")
            assert "-16.9 ug/day (reached without supplements)" in row["reason"]
