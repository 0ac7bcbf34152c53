"""The same distribution summaries from intake as observed, for comparison with usual intake:
one day's recall (day-1 weight) and the mean of two recalls (two-day weight). Their spread
includes day-to-day variation, which is why they put more people below the EAR."""

from __future__ import annotations

import pandas as pd

from analysis.survey.design import SurveyData

# basis -> (weight, [(source, intake column, below-EAR flag)])
BASES = {
    "day1": ("wt_day1", [("mg_food", "mg_food_mg", "mg_food_inadequate"), ("mg_total", "mg_total_mg", "mg_inadequate")]),
    "2day": ("wt_day2", [("mg_food", "mg_food_2day_mg", "mg_food_2day_inadequate"),
                         ("mg_total", "mg_total_2day_mg", "mg_total_2day_inadequate")]),
}


def table(frame: pd.DataFrame, domain: pd.Series, probs: list[float]) -> pd.DataFrame:
    """Share below the EAR (logit CI) and percentiles (Woodruff CI) of observed intake, all
    adults of the distribution model's domain; Taylor-linearized variance."""
    survey = SurveyData(frame)
    rows = []
    for basis, (weight, sources) in BASES.items():
        for source, intake, below in sources:
            inside = domain & frame[intake].notna() & (frame[weight] > 0)
            frame[f"_in_{basis}_{source}"] = inside
            share = survey.proportion(below, weight, f"_in_{basis}_{source}").assign(
                term=f"{source}_{basis}_below_ear", scale="proportion (logit CI)")
            quantiles = survey.quantiles(intake, weight, probs, f"_in_{basis}_{source}")
            quantiles["term"] = [f"{source}_{basis}_p{round(100 * p):02d}" for p in quantiles["prob"]]
            quantiles["scale"] = "mg/day (Woodruff CI)"
            part = pd.concat([share, quantiles.drop(columns=["prob"])], ignore_index=True)
            part["weight"] = weight
            rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    out["model"] = "observed_intake_distribution"
    out["group"] = "all"
    out["variance"] = "taylor"
    return out
