"""Domain flags (who is in which analysis) and the exclusion flow that accounts for everyone.

Rows are never dropped: a subpopulation is a boolean column, used as a domain of the full
design by the survey layer. Each flow is an ordered list of steps; a step's flag is the
conjunction of every step up to it, so the flow table and the flags cannot disagree.
"""

from __future__ import annotations

import pandas as pd

def _notna(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return frame[columns].notna().all(axis=1)


def steps(params: dict) -> dict[str, list[tuple]]:
    """Each flow: [(criterion, condition(frame) -> bool Series, reason for those excluded)]."""
    clean, model = params["clean"], params["model"]
    covariates = list(model["covariates"])
    diet = list(model["diet_covariates"])
    adult = clean["adult_min_age"]
    examined_adults = [
        ("examined", lambda f: f["examined"] & (f["wt_mec"] > 0), "not examined at the MEC (interview only)"),
        ("age_adult", lambda f: f["age"] >= adult, f"younger than {adult}"),
        ("not_pregnant", lambda f: ~f["pregnant"], "pregnant at examination"),
    ]
    recall_and_vitd = [
        ("has_recall_day1", lambda f: f["recall_day1_reliable"] & (f["wt_day1"] > 0),
         "no reliable day-1 dietary recall (DR1DRSTZ != 1) or day-1 weight 0"),
        ("has_vitd", lambda f: f["vitd_serum_nmol"].notna(), "serum 25(OH)D missing"),
        ("has_covariates", lambda f: _notna(f, covariates), "a covariate missing: " + ", ".join(covariates)),
    ]
    return {
        "main": examined_adults + recall_and_vitd + [
            ("has_intake", lambda f: _notna(f, ["mg_total_mg", "vitd_supp_ug"] + diet),
             "intake missing (food or supplement magnesium, vitamin D, energy, calcium)"),
        ],
        "supplements": examined_adults + recall_and_vitd + [
            ("has_supplements", lambda f: _notna(f, ["vitd_supp_ug", "mg_supp_mg"]),
             "24-hour supplement totals missing"),
        ],
        "aac": examined_adults + [
            ("age_aac", lambda f: f["age"] >= model["aac_min_age"], f"younger than {model['aac_min_age']}"),
            ("has_aac_score", lambda f: f["aac24_score"].notna(),
             "no valid aortic calcification score (scored in 2013-2014 only; not scanned or DXXAACTV != 0)"),
            ("has_recall_day1", lambda f: f["recall_day1_reliable"] & (f["wt_day1"] > 0),
             "no reliable day-1 dietary recall (DR1DRSTZ != 1) or day-1 weight 0"),
            ("has_covariates", lambda f: _notna(f, covariates), "a covariate missing: " + ", ".join(covariates)),
            ("has_intake", lambda f: _notna(f, ["mg_total_mg", "vitd_supp_ug"] + diet),
             "intake missing (food or supplement magnesium, vitamin D, energy, calcium)"),
        ],
        "crp": examined_adults + [
            ("has_crp", lambda f: f["crp_mg_l"].notna(), "C-reactive protein not measured (none in 2011-2014) or missing"),
            ("has_vitd", lambda f: f["vitd_serum_nmol"].notna(), "serum 25(OH)D missing"),
            ("has_covariates", lambda f: _notna(f, covariates), "a covariate missing: " + ", ".join(covariates)),
        ],
        "mortality": examined_adults + [
            ("mort_linked", lambda f: f["mort_linked"].fillna(False).astype(bool),
             "not linked to the National Death Index (ELIGSTAT 2 or 3), or no linked mortality file for the cycle"),
            ("has_followup", lambda f: f["followup_exam_months"].notna() & f["died_cvd"].notna(),
             "months of follow-up from the exam missing, or a death without a cause"),
            ("has_vitd", lambda f: f["vitd_serum_nmol"].notna(), "serum 25(OH)D missing"),
            ("has_covariates", lambda f: _notna(f, covariates), "a covariate missing: " + ", ".join(covariates)),
        ],
        "deng": examined_adults + [
            ("has_recall_day1", lambda f: f["recall_day1_reliable"] & (f["wt_day1"] > 0),
             "no reliable day-1 dietary recall or day-1 weight 0"),
            ("has_vitd_ria", lambda f: f["vitd_serum_ria_nmol"].notna() & f["vitd_serum_nmol"].notna(),
             "serum 25(OH)D missing (radioimmunoassay or its LC-MS/MS-equivalent re-release)"),
            ("has_supplements_30d", lambda f: _notna(f, ["mg_supp_30d_mg", "vitd_supp_30d_ug", "ca_supp_30d_mg"]),
             "30-day supplement questionnaire not answered (DSDCOUNT missing)"),
            ("has_covariates", lambda f: _notna(f, list(params["deng"]["covariates"])),
             "a covariate missing: " + ", ".join(params["deng"]["covariates"])),
        ],
        "bone": examined_adults + [
            ("female_older", lambda f: (f["sex"] == "female").fillna(False) & (f["age"] >= model["bone_min_age"]),
             f"not a woman aged {model['bone_min_age']} or older"),
            ("has_recall_day1", lambda f: f["recall_day1_reliable"] & (f["wt_day1"] > 0),
             "no reliable day-1 dietary recall (DR1DRSTZ != 1) or day-1 weight 0"),
            ("has_femur_dxa", lambda f: f["femneck_bmd"].notna(), "femoral neck BMD missing (no DXA, or cycle without DXXFEM)"),
            ("has_covariates", lambda f: _notna(f, covariates), "a covariate missing: " + ", ".join(covariates)),
            ("has_intake", lambda f: _notna(f, ["mg_total_mg", "vitd_total_ug"] + diet),
             "intake missing (magnesium, vitamin D, energy, calcium)"),
        ],
    }


FLAG_OF_FLOW = {"main": "in_main", "supplements": "in_supp", "aac": "in_aac", "crp": "in_crp", "mortality": "in_mort",
                "deng": "in_deng", "bone": "in_bone"}


def cycles_of(flow: str, params: dict) -> list[str]:
    """The cycles a flow starts from: the Deng replication's (params deng.cycles); for mortality
    every era's (params eras.cycles: C11 on every cycle with linked mortality; the main C11 models
    use the rows of analyze.cycles); else the main analyses' (params analyze.cycles)."""
    if flow == "deng":
        return list(params["deng"]["cycles"])
    if flow == "mortality":
        return [c for cycles in params["eras"]["cycles"].values() for c in cycles]
    return list(params["analyze"]["cycles"])


def add_flags(frame: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add in_adults and the flags of FLAG_OF_FLOW; return (frame, flow table). Each flow starts
    from everyone in DEMO of its cycles (`cycles_of`), which the flow table names."""
    out = frame.copy()
    flow_rows = []
    for flow, flow_steps in steps(params).items():
        cycles = cycles_of(flow, params)
        keep = out["cycle"].isin(cycles)
        flow_rows.append({"flow": flow, "step": 0, "criterion": "all participants in DEMO",
                          "n_remaining": int(keep.sum()), "n_excluded": 0,
                          "reason": "cycles " + ", ".join(c for c in cycles if c in set(out["cycle"]))})
        for number, (name, condition, reason) in enumerate(flow_steps, start=1):
            passed = pd.Series(condition(out), index=out.index).fillna(False).astype(bool)
            excluded = keep & ~passed
            keep = keep & passed
            flow_rows.append({"flow": flow, "step": number, "criterion": name,
                              "n_remaining": int(keep.sum()), "n_excluded": int(excluded.sum()),
                              "reason": reason})
        out[FLAG_OF_FLOW[flow]] = keep
    # examined adults, not pregnant, of every cycle (the first steps of the flows, without their cycles)
    adults = pd.Series(True, index=out.index)
    for name, condition, _ in steps(params)["main"][:3]:
        adults &= pd.Series(condition(out), index=out.index).fillna(False).astype(bool)
    out["in_adults"] = adults
    return out, pd.DataFrame(flow_rows)
