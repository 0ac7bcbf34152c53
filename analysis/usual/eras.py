"""The usual-intake model of each era (params `eras`): 2001-2006 and 2007-2018 with one
definition both have, so that claims can be replicated in two independent samples.

CDC has no food vitamin D before 2007-2008 and no 24-hour supplement recall: the common
definition models energy, magnesium and calcium (no vitamin D) and conditions on supplement use
from the 30-day questionnaire. Each era's model is fitted on that era's cycles alone (its own
design, weights re-pooled over its cycles) with the design's replicates, as the main model is;
the main model (2007-2018, with vitamin D) is unchanged.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pandas as pd

from analysis.clean.dictionary import undocumented
from analysis.core import atomic
from analysis.core.config import Paths
from analysis.core.errors import DataError
from analysis.survey import replicates as engine
from analysis.survey.weights import for_cycles
from analysis.usual.definition import domains
from analysis.usual.intake_model import UsualIntakeModel

log = logging.getLogger(__name__)

FOLDER = "usual_eras"
PERSONS_FILE = "usual_intake.parquet"


def era_params(params: dict, era: str) -> dict:
    """params with the era's common usual-intake definition and its cycles as the analyses'."""
    if era not in params["eras"]["cycles"]:
        raise DataError(f"params.yaml eras.cycles: no era {era!r}; it has {list(params['eras']['cycles'])}")
    out = copy.deepcopy(params)
    out["usual_intake"].update(copy.deepcopy(params["eras"]["usual_intake"]))
    out["analyze"]["cycles"] = list(params["eras"]["cycles"][era])
    return out


def era_frame(analytic: pd.DataFrame, params: dict, era: str) -> pd.DataFrame | None:
    """The era's rows with weights re-pooled over its cycles; None when the table has none of them."""
    cycles = [c for c in params["eras"]["cycles"][era] if c in set(analytic["cycle"])]
    return for_cycles(analytic, cycles) if cycles else None


def model_path(data_clean: Path, era: str) -> Path:
    return data_clean / FOLDER / era / "usual_model.json"


def persons_path(data_clean: Path, era: str) -> Path:
    return data_clean / FOLDER / era / PERSONS_FILE


def fitted(data_clean: Path, era: str) -> bool:
    """Whether the usual stage could fit the era's model (its file says so)."""
    path = model_path(data_clean, era)
    return path.exists() and bool(json.loads(path.read_text(encoding="utf-8")).get("available"))


def with_columns(frame: pd.DataFrame, data_clean: Path, era: str) -> pd.DataFrame:
    """`frame` with the era's per-person usual-intake columns; in_usual_calibration is False for
    everyone the era's model does not cover."""
    out = frame.merge(pd.read_parquet(persons_path(data_clean, era)), on="seqn", how="left", validate="one_to_one")
    out["in_usual_calibration"] = out["in_usual_calibration"].astype("boolean").fillna(False).astype(bool)
    return out


def fit_era(frame: pd.DataFrame, params: dict) -> tuple[dict, pd.DataFrame]:
    """The era's calibration model on its full sample and every replicate: (model file, persons)."""
    replicates = engine.design(frame, params)
    model = UsualIntakeModel.fit(frame, params, replicates)
    masks = domains(frame, params)
    persons = pd.DataFrame({"seqn": frame["seqn"], "in_usual_calibration": masks["calibration"]})
    for name, values in model.person_columns().items():
        persons.loc[model.rows, name] = values
    model_json = {"available": True, "cycles": sorted(frame["cycle"].unique()),
                  "replicates": {"method": replicates.method, "n": int(replicates.factors.shape[1]), "df": replicates.df},
                  "calibration": model.to_json()}
    return model_json, persons


def run(analytic: pd.DataFrame, params: dict, paths: Paths) -> None:
    """Fit and save every era's model (an era without cycles or recalls at hand says why)."""
    for era in params["eras"]["cycles"]:
        own = era_params(params, era)
        frame = era_frame(analytic, params, era)
        covered = 0 if frame is None else int(domains(frame, own)["calibration"].sum())
        if covered < params["analyze"]["min_domain_n"]:
            reason = f"era {era}: {covered} adults with a reliable recall and the model's columns in the files at hand"
            log.info("usual: %s; no era model", reason)
            atomic.write_text(model_path(paths.data_clean, era), json.dumps({"available": False, "reason": reason}) + "\n")
            atomic.write_parquet(persons_path(paths.data_clean, era), pd.DataFrame({"seqn": pd.Series(dtype="int64")}))
            continue
        log.info("usual: era %s (%s), common definition: %s", era, ", ".join(own["analyze"]["cycles"]),
                 ", ".join(own["usual_intake"]["nutrients"]))
        model_json, persons = fit_era(frame, own)
        missing = undocumented(persons, PERSONS_FILE)
        if missing:
            raise DataError(f"analysis/clean/dictionary.yaml: column(s) {missing} of {PERSONS_FILE} are not documented")
        atomic.write_parquet(persons_path(paths.data_clean, era), persons)
        atomic.write_text(model_path(paths.data_clean, era), json.dumps(model_json) + "\n")
