"""The calibration model of usual intake as one object: fitted on the full sample and on every
replicate of the design (the usual stage), saved to and loaded from data_clean/usual_model.json,
and giving each person's regression-calibration columns on the full sample or on any replicate
(the analyses). Rerunning the first step on a replicate is `columns(r)`: the analyses never
reach into the stage or the model's arrays.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.survey import replicates as engine
from analysis.core.errors import DataError
from analysis.survey.design import Replicates
from analysis.usual import calibration
from analysis.usual.definition import domains, model_data
from analysis.usual.individual import Individuals
from analysis.usual.model import Parameters, fit

log = logging.getLogger(__name__)


class UsualIntakeModel:
    """The calibration model on the persons of `frame` it covers (`rows`), with its stored fits:
    "full", "replicates" (the design's jackknife or BRR) and, when fitted, "bootstrap"."""

    def __init__(self, frame: pd.DataFrame, params: dict, stored: dict, replicates: dict, bootstrap: dict | None):
        self.params = params
        self.rows = covered(frame, params)
        self.frame = frame[self.rows].reset_index(drop=True)
        self.data = model_data(self.frame, params, "calibration")
        if list(self.data.names) != stored["terms"][: len(self.data.names)]:
            raise DataError(f"usual-intake model: fitted for covariates {stored['terms']}, but the analytic table "
                            f"gives {list(self.data.names)}; rerun the usual stage")
        self.stored = stored
        self.replicates = replicates  # {"method", "n", "df"}
        self.bootstrap = bootstrap  # {"n", "seed", "df"} or None
        self.n_replicates = replicates["n"]

    # ------------------------------------------------------------------ fit, save, load

    @classmethod
    def fit(cls, frame: pd.DataFrame, params: dict, replicates: Replicates,
            bootstrap: Replicates | None = None, bootstrap_seed: int | None = None) -> "UsualIntakeModel":
        """Fit on the full sample and refit on every replicate (lambda re-estimated on each,
        searched from the full sample's)."""
        rows = covered(frame, params)
        data = model_data(frame[rows].reset_index(drop=True), params, "calibration")
        log.info("usual: calibration model, %d persons (%d with two recalls)", int(rows.sum()), int(data.has_day2.sum()))
        full = fit(data)
        stored = {"nutrients": list(data.nutrients), "terms": list(full.terms), "full": full.to_dict(),
                  "replicates": [r.to_dict() for r in fit_replicates(data, replicates.factors[rows], full,
                                                                     "usual: calibration model on replicates")]}
        boot_info = None
        if bootstrap is not None:
            stored["bootstrap"] = [r.to_dict() for r in fit_replicates(
                data, bootstrap.factors[rows], full, "usual: calibration model on bootstrap replicates")]
            boot_info = {"n": int(bootstrap.factors.shape[1]), "seed": bootstrap_seed, "df": bootstrap.df}
        info = {"method": replicates.method, "n": int(replicates.factors.shape[1]), "df": replicates.df}
        return cls(frame, params, stored, info, boot_info)

    def to_json(self) -> dict:
        """The calibration part of data_clean/usual_model.json."""
        return self.stored

    @classmethod
    def load(cls, path: Path, frame: pd.DataFrame, params: dict) -> "UsualIntakeModel":
        """The model the usual stage saved, for the persons of `frame` (the prepared analytic table)."""
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not stored.get("available"):
            raise DataError(f"{path}: the usual-intake model is not available ({stored.get('reason', '')})")
        try:
            return cls(frame, params, stored["calibration"], stored["replicates"], stored.get("bootstrap"))
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------ what the analyses use

    def parameters(self, replicate: int | None, kind: str = "replicates") -> Parameters:
        """The full-sample fit (None), or replicate r's: of the jackknife ("replicates") or the bootstrap."""
        return Parameters.from_dict(self.stored["full"] if replicate is None else self.stored[kind][replicate])

    def columns(self, replicate: int | None, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
        """The calibration columns (those in `wanted`; None: all) of the covered persons on the
        full sample (None) or a replicate; the slow joint probabilities only where an outcome
        model uses them (main and bone domains)."""
        bone = self.frame["in_bone"].to_numpy()
        return self._columns(self.data, self.frame, self.parameters(replicate), joint_rows=bone,
                             ratio_rows=self.frame["in_main"].to_numpy() | bone, wanted=wanted)

    def person_columns(self) -> dict[str, np.ndarray]:
        """Every calibration column of every covered person, full sample (data_clean/usual_intake.parquet)."""
        return self._columns(self.data, self.frame, self.parameters(None), joint_rows=None, ratio_rows=None)

    def columns_for(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The full-sample calibration columns for another frame of the covered persons (e.g. one
        with imputed covariates), without the joint and ratio probabilities."""
        data = model_data(frame, self.params, "calibration")
        if list(data.names) != self.stored["terms"][: len(data.names)]:
            raise DataError(f"the frame gives covariates {list(data.names)}, the usual-intake model has "
                            f"{self.stored['terms']}")
        none = np.zeros(len(frame), bool)
        return self._columns(data, frame, self.parameters(None), joint_rows=none, ratio_rows=none)

    def adequacy(self, replicate: int | None, kind: str = "replicates") -> np.ndarray:
        """P(usual total magnesium >= EAR) of the covered persons alone (the cheap column)."""
        return Individuals(self.data, self.parameters(replicate, kind)).prob_at_least(
            "mg", self.frame["mg_ear_mg"].to_numpy(dtype=float), self.frame["mg_supp_usual_mg"].to_numpy(dtype=float))

    def _columns(self, data, frame: pd.DataFrame, fitted: Parameters, joint_rows: np.ndarray | None,
                 ratio_rows: np.ndarray | None, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
        a = self.params["analyze"]
        return calibration.columns(Individuals(data, fitted), frame, a["vitd_ear_ug"], a["high_ca_mg_ratio"],
                                   joint_rows=joint_rows, ratio_rows=ratio_rows, wanted=wanted)


def covered(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Who the calibration model covers (a boolean mask over `frame`'s rows)."""
    return domains(frame, params)["calibration"].to_numpy()


def fit_replicates(data, factors: np.ndarray, full: Parameters, label: str) -> list[Parameters]:
    """A usual-intake model refitted on every column of `factors` (lambda searched from the full
    sample's), in forked workers: the distribution model's too."""
    return engine.each(lambda r: fit(data, factors[:, r], near=full), factors.shape[1], label)
