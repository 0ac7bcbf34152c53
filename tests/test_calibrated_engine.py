"""The calibrated engine (analyses/calibrated.py) beyond what the R oracles check.

A model on a frame whose rows repeat (`CalibratedModel.expand`, used for the proportional-
hazards check on split follow-up): each repeated row takes its person's usual-intake columns
and replicate factors. A model on every row twice, with the same weights, has the same
coefficients and replicate SEs as on the rows once — only if the repeats are mapped to their
persons (a repeat given another row's factor or usual column would move both).

A replicate computes only the usual-intake columns its models read: the same numbers as all
of them, and a model's table the same either way.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import calibrated, usual_intake
from analysis.analyses.common import Context
from analysis.core.config import load_params
from analysis.core.errors import DataError
from analysis.usual import definition
from analysis.usual.intake_model import UsualIntakeModel
from tests import synthetic
from tests.conftest import REPO
from tests.usual_model import write_calibration_model


def twice(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Every row twice, the copies in reverse order (so a copy's position is not its person's)."""
    order = np.concatenate([np.arange(len(frame)), np.arange(len(frame))[::-1]])
    return frame.iloc[order].reset_index(drop=True), order


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    p = copy.deepcopy(load_params(REPO / "params.yaml"))
    p["model"]["covariates"] = ["age", "sex", "bmi"]
    p["analyze"]["min_domain_n"] = 50
    frame = synthetic.usual_intake_table(n_per_psu=20, cycles=synthetic.CYCLES[:1], seed=11)
    model_file = write_calibration_model(frame, p, tmp_path_factory.mktemp("expand") / "usual_model.json")
    return frame, p, model_file


def test_a_model_on_repeated_rows_keeps_each_persons_columns_and_factors(setting):
    frame, p, model_file = setting
    ctx = Context(frame.copy(), p)
    once = [m for m in usual_intake.models(ctx) if m.name == "use_x_mg_adequacy_usual"][0]
    repeated = dataclasses.replace(once, name="repeated", table="repeated", expand=twice)
    tables = calibrated.run(ctx, [once, repeated], model_file).tables
    a = tables["interaction_usual"].set_index("term")
    b = tables["repeated"].set_index("term")
    assert list(a.index) == list(b.index) and len(a) > 5
    for column in ("estimate", "std_error", "ci_low", "ci_high"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-9)
    assert (b["n"] == 2 * a["n"]).all()
    assert (a["std_error"] > 0).all()


def test_repeats_reaching_beyond_the_usual_intake_persons_are_refused(setting):
    frame, p, model_file = setting
    ctx = Context(frame.copy(), p)
    once = [m for m in usual_intake.models(ctx) if m.name == "use_x_mg_adequacy_usual"][0]
    member = int(np.flatnonzero(ctx.frame[once.domain].to_numpy())[0])
    stranger = int(np.flatnonzero(~definition.domains(frame, p)["calibration"].to_numpy())[0])

    def stray(f: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        expanded, order = twice(f)
        order = order.copy()
        order[2 * len(f) - 1 - member] = stranger  # the member's second copy claims to be someone never calibrated
        return expanded, order

    with pytest.raises(DataError, match="reaches beyond the usual-intake model's persons"):
        calibrated.run(ctx, [dataclasses.replace(once, expand=stray)], model_file)


def test_a_replicate_computes_only_the_columns_asked_for(setting):
    frame, p, model_file = setting
    usual = UsualIntakeModel.load(model_file, Context(frame.copy(), p).frame, p)
    everything = usual.columns(3)
    some = usual.columns(3, {"mg_adequate_usual", "high_ca_mg_ratio_usual"})
    assert set(some) == {"mg_adequate_usual", "high_ca_mg_ratio_usual"}
    for name, values in some.items():
        np.testing.assert_array_equal(values, everything[name])
    assert calibrated.sources({"mg_vitd_one_adequate_usual", "kcal_usual"}) == {
        "mg_adequate_usual", "vitd_adequate_usual", "mg_vitd_adequate_usual", "kcal_usual"}
    with pytest.raises(KeyError, match="not among"):
        usual.columns(3, {"mg_adequate_usual_typo"})
