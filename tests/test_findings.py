"""The report's plain paragraphs: one per claim, numbers from the claims table, and C1's
log-scale reading of a possible ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.claims import findings


def claims_table() -> pd.DataFrame:
    return pd.DataFrame([
        {"claim_id": "C1", "verdict": "contradicted", "test": "interaction", "estimate": -5.7, "ci_low": -9.6,
         "ci_high": -1.8, "reason": "sensitivity, one day's intake: -2.9"},
        {"claim_id": "C8", "verdict": "not testable with NHANES", "test": "none", "estimate": np.nan,
         "ci_low": np.nan, "ci_high": np.nan, "reason": "no measure of absorption"},
    ])


def log_table(interaction: tuple[float, float, float]) -> pd.DataFrame:
    """As the pipeline writes it: the rows found by their keys (quantity, contrast, group); the
    labels are deliberately not the pipeline's, so a selection by label text would fail."""
    rows = [("label a", ("interaction", "vitd_supp_user x mg_adequate_usual", "all"), interaction),
            ("label b", ("effect", "vitd_supp_user", "mg_adequate_usual = 0"), (1.37, 1.32, 1.41)),
            ("label c", ("effect", "vitd_supp_user", "mg_adequate_usual = 1"), (1.20, 1.17, 1.23)),
            ("label d", ("coefficient", "vitd_supp_user", "all"), (9.0, 8.0, 10.0))]
    return pd.DataFrame([{"model": "use_x_mg_adequacy_usual_log", "term": t, "quantity": k[0], "contrast": k[1],
                          "group": k[2], "estimate": v[0], "ci_low": v[1], "ci_high": v[2]} for t, k, v in rows])


def test_one_paragraph_per_claim_with_its_numbers_and_caveat():
    out = findings.paragraphs(claims_table(), {}, 60)
    assert [p["claim_id"] for p in out] == ["C1", "C8"]
    assert "-5.7 (95% CI -9.6 to -1.8)" in out[0]["text"] and "Sensitivity, one day's intake" in out[0]["text"]
    assert "Caveat: Supplement users chose" in out[0]["text"]
    assert out[1]["text"].startswith("no measure of absorption") and "Caveat: No NHANES cycle" in out[1]["text"]


def test_c1_log_scale_reading_separates_a_ceiling_from_a_real_difference():
    smaller = findings.paragraphs(claims_table(), {"interaction_usual": log_table((0.88, 0.84, 0.92))}, 60)[0]["text"]
    assert "the ratio of the two is 0.88 (95% CI 0.84 to 0.92)" in smaller and "not only a ceiling" in smaller
    unclear = findings.paragraphs(claims_table(), {"interaction_usual": log_table((0.97, 0.90, 1.04))}, 60)[0]["text"]
    assert "compatible with a ceiling" in unclear


def mortality_table(usual: tuple[float, float, float] | None, day1: tuple[float, float, float]) -> pd.DataFrame:
    rows = [("died_cvd_by_joint_day1_ph_check", "both_adequate_day1:late", day1),
            ("died_by_joint_day1_ph_check", "both_adequate_day1:late", day1),
            ("died_cvd_by_mg_x_vitd_usual", "both adequate vs neither", (0.8, 0.5, 1.3))]
    if usual is not None:
        rows += [("died_cvd_by_mg_x_vitd_usual_ph_check", "both adequate vs neither:late", usual),
                 ("died_by_mg_x_vitd_usual_ph_check", "both adequate vs neither:late", (1.15, 0.75, 1.75))]
    return pd.DataFrame([{"model": m, "term": f"label {i}", "contrast": c, "estimate": v[0], "ci_low": v[1],
                          "ci_high": v[2]} for i, (m, c, v) in enumerate(rows)])


def c11_text(tables: dict) -> str:
    claims = pd.DataFrame([{"claim_id": "C11", "verdict": "inconclusive", "test": "HR", "estimate": 0.8,
                            "ci_low": 0.5, "ci_high": 1.3, "reason": ""}])
    return findings.paragraphs(claims, tables, ph_split_months=60)[0]["text"]


def test_c11_states_its_proportional_hazards_check_on_usual_magnesium_first():
    text = c11_text({"mortality": mortality_table((1.04, 0.56, 1.94), day1=(1.27, 0.72, 2.24))})
    assert "split at 60 months" in text
    assert "1.04 (95% CI 0.56 to 1.94) for cardiovascular death and 1.15 (95% CI 0.75 to 1.75) for death from any cause" in text
    assert "no departure from proportional hazards is detected" in text
    departing = c11_text({"mortality": mortality_table((1.9, 1.2, 3.0), day1=(1.0, 0.8, 1.2))})
    assert "1.9 (95% CI 1.2 to 3)" in departing and "a departure from proportional hazards" in departing


def test_c11_falls_back_to_the_one_day_check_and_says_nothing_without_one():
    day1_only = c11_text({"mortality": mortality_table(None, day1=(1.27, 0.72, 2.24))})
    assert "1.27 (95% CI 0.72 to 2.24) for cardiovascular death" in day1_only
    assert "Proportional hazards" not in c11_text({})
    untestable = pd.DataFrame([{"model": "mortality", "term": "not testable", "contrast": np.nan, "estimate": np.nan}])
    assert "Proportional hazards" not in c11_text({"mortality": untestable})
