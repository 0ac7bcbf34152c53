"""The claims registry (analysis/claims/claims.yaml) and the verdict engine.

A verdict comes from a rule fixed in params.yaml before the numbers: the rule reads the
test's estimate and 95% CI and returns one of the VERDICTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from analysis.analyses.evidence import Evidence  # noqa: F401 (the claims layer judges it; claims.Evidence)
from analysis.core.config import load_yaml
from analysis.core.errors import ConfigError

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable with NHANES"
NOT_TESTABLE_FILES = "not testable with the files at hand"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE, NOT_TESTABLE_FILES)


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    words: str
    hypothesis: str
    analysis: str
    needs: tuple[str, ...]
    source_note: str = ""
    fallback_needs: tuple[str, ...] = ()  # a stand-in test when `needs` are missing (empty: none)


@lru_cache(maxsize=1)
def registry() -> dict[str, Claim]:
    raw = load_yaml(resources.files("analysis.claims").joinpath("claims.yaml").read_text(encoding="utf-8"))
    return {cid: Claim(id=cid, claim=" ".join(spec["claim"].split()), words=spec["words"],
                       hypothesis=" ".join(spec["hypothesis"].split()), analysis=spec["analysis"],
                       needs=tuple(spec.get("needs", [])), source_note=" ".join(spec.get("source_note", "").split()),
                       fallback_needs=tuple(spec.get("fallback", {}).get("needs", [])))
            for cid, spec in raw.items()}


def decide(rule: dict, evidence: list[Evidence]) -> str:
    kind = rule.get("rule")
    if kind == "not_testable":
        return NOT_TESTABLE
    if kind == "fact_check":
        return rule["verdict"]
    if not evidence:
        raise ConfigError(f"verdict rule {kind!r} needs at least one estimate")
    if kind == "all_of":
        # every part judged by its own rule on its own estimate, in order
        parts = rule["parts"]
        if len(evidence) < len(parts):
            raise ConfigError(f"verdict rule all_of has {len(parts)} parts but {len(evidence)} estimate(s)")
        verdicts = [decide(part, [e]) for part, e in zip(parts, evidence)]
        if all(v == SUPPORTED for v in verdicts):
            return SUPPORTED
        if any(v == CONTRADICTED for v in verdicts):
            return CONTRADICTED
        return INCONCLUSIVE
    first = evidence[0]
    if kind == "greater_than":
        if first.ci_low > rule["h0"]:
            return SUPPORTED
        if first.ci_high < rule["margin"]:
            return CONTRADICTED
        return INCONCLUSIVE
    if kind == "less_than":
        if first.ci_high < rule["h0"]:
            return SUPPORTED
        if first.ci_low > rule["margin"]:
            return CONTRADICTED
        return INCONCLUSIVE
    if kind == "equivalent":
        margin = rule["margin"]
        if -margin <= first.ci_low and first.ci_high <= margin:
            return SUPPORTED
        if first.ci_low > 0 or first.ci_high < 0:
            return CONTRADICTED
        return INCONCLUSIVE
    if kind == "within_observed_doses":
        difference, *doses, bound = evidence
        if all(dose_status(d.estimate, bound.estimate) == INSIDE for d in doses):
            return decide({**rule, "rule": "greater_than"}, [difference])
        return INCONCLUSIVE
    if kind == "all_at_least":
        margin = rule["margin"]
        if all(e.ci_low >= margin for e in evidence):
            return SUPPORTED
        if any(e.ci_high < margin for e in evidence):
            return CONTRADICTED
        return INCONCLUSIVE
    raise ConfigError(f"params.yaml verdicts: unknown rule {kind!r}")


ERA_RULES = ("opposite_era_makes_inconclusive",)


def with_era(rule_name: str, main: str, era: str) -> str:
    """A claim's verdict given its replication in another era (params eras.verdict_rule): the main
    verdict stands unless the other era's is the opposite decisive one; then the eras disagree."""
    if rule_name not in ERA_RULES:
        raise ConfigError(f"params.yaml eras.verdict_rule: {rule_name!r}; known: {', '.join(ERA_RULES)}")
    return INCONCLUSIVE if {main, era} == {SUPPORTED, CONTRADICTED} else main


INSIDE = "inside the observed doses"
WITHOUT_SUPPLEMENTS = "reached without supplements"
BEYOND = "beyond the data"


def dose_status(dose: float, upper: float) -> str:
    """A model's dose to reach a threshold is an estimate only inside the doses people took
    (0 to a high percentile): below 0 the threshold is reached without supplements, above the
    bound it is an extrapolation."""
    if dose < 0:
        return WITHOUT_SUPPLEMENTS
    return INSIDE if dose <= upper else BEYOND


def has_estimate(rule: dict, evidence: list[Evidence]) -> bool:
    """Whether the rule finds an estimate in the evidence: a dose comparison (rule
    within_observed_doses) has none unless every group's dose lies inside the observed doses."""
    if rule.get("rule") == "within_observed_doses":
        *_, bound = evidence
        return all(dose_status(d.estimate, bound.estimate) == INSIDE for d in evidence[1:-1])
    return bool(evidence)


def dose_range_reason(evidence: list[Evidence]) -> str:
    """Each group's dose and where it lies, for the claims table."""
    *_, bound = evidence
    return "; ".join(f"{d.label}: {d.estimate:.3g} ug/day ({dose_status(d.estimate, bound.estimate)})"
                     for d in evidence[1:-1]) + f"; {bound.label}: 0 to {bound.estimate:.3g} ug/day"


def describe(rule: dict) -> str:
    """The rule in words, printed beside the verdict."""
    kind = rule.get("rule")
    if kind == "greater_than":
        return (f"supported if the 95% CI lies above {rule['h0']}; contradicted if its upper end is "
                f"below {rule['margin']} (the smallest effect that would matter); otherwise inconclusive")
    if kind == "less_than":
        return (f"supported if the 95% CI lies below {rule['h0']}; contradicted if its lower end is "
                f"above {rule['margin']} (the claimed effect is excluded); otherwise inconclusive")
    if kind == "equivalent":
        return (f"supported if the 95% CI lies within ±{rule['margin']} (no effect); contradicted if it "
                "excludes 0; otherwise inconclusive")
    if kind == "all_at_least":
        return (f"supported if every 95% CI lies at or above {rule['margin']}; contradicted if any lies "
                "wholly below; otherwise inconclusive")
    if kind == "within_observed_doses":
        return (f"each group's dose must lie inside the observed doses (0 to the {rule['dose_percentile']}th percentile "
                "of supplemental vitamin D among users): a dose below 0 is 'reached without supplements', one above "
                "it 'beyond the data', and then the verdict is inconclusive; with both inside, "
                + describe({**rule, "rule": "greater_than"}))
    if kind == "all_of":
        return ("supported only if every part is: " + "; ".join(f"({i + 1}) {part.get('label', '')}: {describe(part)}"
                                                               for i, part in enumerate(rule["parts"]))
                + "; contradicted if any part is; otherwise inconclusive")
    if kind == "fact_check":
        return "fact check against the reference values' publishers (not a statistical test)"
    if kind == "not_testable":
        return "no NHANES measure of the claimed quantity"
    raise ConfigError(f"params.yaml verdicts: unknown rule {kind!r}")
