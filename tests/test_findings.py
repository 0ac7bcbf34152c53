"""The report's plain paragraphs: one per claim, numbers from the claims table, and C1's
log-scale reading of a possible ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import findings


def claims_table() -> pd.DataFrame:
    return pd.DataFrame([
        {"claim_id": "C1", "verdict": "contradicted", "test": "interaction", "estimate": -5.7, "ci_low": -9.6,
         "ci_high": -1.8, "reason": "sensitivity, one day's intake: -2.9"},
        {"claim_id": "C8", "verdict": "not testable with NHANES", "test": "none", "estimate": np.nan,
         "ci_low": np.nan, "ci_high": np.nan, "reason": "no measure of absorption"},
    ])


def log_table(interaction: tuple[float, float, float]) -> pd.DataFrame:
    terms = {"interaction vitd_supp_user x mg_adequate_usual": interaction,
             "vitd_supp_user effect | mg_adequate_usual = 0": (1.37, 1.32, 1.41),
             "vitd_supp_user effect | mg_adequate_usual = 1": (1.20, 1.17, 1.23)}
    return pd.DataFrame([{"model": "use_x_mg_adequacy_usual_log", "term": t, "estimate": v[0], "ci_low": v[1],
                          "ci_high": v[2]} for t, v in terms.items()])


def test_one_paragraph_per_claim_with_its_numbers_and_caveat():
    out = findings.paragraphs(claims_table(), {})
    assert [p["claim_id"] for p in out] == ["C1", "C8"]
    assert "-5.7 (95% CI -9.6 to -1.8)" in out[0]["text"] and "Sensitivity, one day's intake" in out[0]["text"]
    assert "Caveat: Supplement users chose" in out[0]["text"]
    assert out[1]["text"].startswith("no measure of absorption") and "Caveat: No NHANES cycle" in out[1]["text"]


def test_c1_log_scale_reading_separates_a_ceiling_from_a_real_difference():
    smaller = findings.paragraphs(claims_table(), {"interaction_usual": log_table((0.88, 0.84, 0.92))})[0]["text"]
    assert "the ratio of the two is 0.88 (95% CI 0.84 to 0.92)" in smaller and "not only a ceiling" in smaller
    unclear = findings.paragraphs(claims_table(), {"interaction_usual": log_table((0.97, 0.90, 1.04))})[0]["text"]
    assert "compatible with a ceiling" in unclear
