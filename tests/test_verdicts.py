"""The verdict engine: each rule on estimates chosen to fall on each side of its bounds."""

from __future__ import annotations

import pytest

from analysis import claims
from analysis.claims import Evidence, decide
from analysis.config import load_params
from analysis.errors import ConfigError
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
    assert sorted(registry) == [f"C{i}" for i in range(1, 9)]
    for cid in registry:
        rule = params["verdicts"][cid]
        assert claims.describe(rule)
        assert rule["test"]
