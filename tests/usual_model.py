"""The usual stage's calibration model for a frame built by a test: fitted on the full sample
and on every jackknife replicate, written as data_clean/usual_model.json would be."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.survey.design import replicate_factors
from analysis.usual import definition
from analysis.usual.model import fit


def write_calibration_model(frame: pd.DataFrame, params: dict, path: Path) -> Path:
    rows = definition.domains(frame, params)["calibration"].to_numpy()
    data = definition.model_data(frame[rows].reset_index(drop=True), params, "calibration")
    replicates = replicate_factors(frame)
    full = fit(data)
    reps = [fit(data, replicates.factors[rows][:, r], near=full) for r in range(replicates.factors.shape[1])]
    path.write_text(json.dumps({"available": True, "replicates": {"n": len(reps)},
                                "calibration": {"terms": list(full.terms), "full": full.to_dict(),
                                                "replicates": [r.to_dict() for r in reps]}}))
    return path
