"""Direct age standardization (`estimate ... --age-adjust`) against R's svystandardize: means and
shares, overall and by group, on data the tests build and on the synthetic mirror, to 1e-6
(estimates, SEs, CIs, df); and the standards' bookkeeping."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.commands import estimate
from analysis.core.config import load_params
from analysis.core.errors import ConfigError, DataError
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import assert_agree, run_oracle

PARAMS = load_params(REPO / "params.yaml")
ADULTS = estimate.age_standard("adults_2000", PARAMS)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data = synthetic.analytic_table(n_per_psu=40, seed=13)
    data["vitd_below_50"] = data["vitd_below_50"].astype("boolean")
    return data


def ours(frame: pd.DataFrame, statistic: str, column: str, by=(), **kw) -> pd.DataFrame:
    result = estimate.estimate(statistic, column, by=by, frame=frame, params=PARAMS, age_adjust="adults_2000",
                               weight="wt_mec", **kw)
    table = result.table[result.table["statistic"].str.startswith("age-adjusted")]
    return table.rename(columns={"group": "term"})


def theirs(frame, tmp_path, column, by=None, share=False) -> pd.DataFrame:
    data = frame.assign(age_std=ADULTS.groups(frame["age"]),
                        in_std=(frame["wt_mec"] > 0) & frame["age"].ge(20) & frame[column].notna()
                        & (frame[by].notna() if by else True))
    data["age_std"] = data["age_std"].fillna("20-39")  # outside the domain: any level (zero weight there)
    population = [f"{label}={share_:.17g}" for label, share_ in ADULTS.shares.items()]
    return run_oracle(tmp_path, data, ["sdmvstra", "sdmvpsu", "wt_mec", "in_std", "age_std", column] + ([by] if by else []),
                      task="standardize", weight="wt_mec", domain="in_std", y=column, std_by="age_std", by=by,
                      population=population, prop="1" if share else "0")


@pytest.mark.oracle
def test_age_adjusted_mean_equals_svystandardize(frame, tmp_path):
    assert_agree(ours(frame, "mean", "vitd_serum_nmol"), theirs(frame, tmp_path, "vitd_serum_nmol"))


@pytest.mark.oracle
def test_age_adjusted_mean_by_group_equals_svystandardize(frame, tmp_path):
    assert_agree(ours(frame, "mean", "vitd_serum_nmol", by=["race_eth"]),
                 theirs(frame, tmp_path, "vitd_serum_nmol", by="race_eth"))


@pytest.mark.oracle
def test_age_adjusted_share_by_group_equals_svystandardize(frame, tmp_path):
    assert_agree(ours(frame, "proportion", "vitd_below_50", by=["sex"]),
                 theirs(frame, tmp_path, "vitd_below_50", by="sex", share=True))


@pytest.mark.oracle
@pytest.mark.mirror
def test_age_adjusted_share_on_the_mirror_equals_svystandardize(analyzed_project, tmp_path):
    data = estimate.load(analyzed_project)
    data["vitd_below_50"] = (data["vitd_serum_nmol"] < 50).astype("boolean").mask(data["vitd_serum_nmol"].isna())
    assert_agree(ours(data, "proportion", "vitd_below_50", by=["sex"]),
                 theirs(data, tmp_path, "vitd_below_50", by="sex", share=True))


def test_adjusted_differs_from_crude_when_the_age_mix_differs(frame):
    young = frame.assign(vitd_serum_nmol=frame["vitd_serum_nmol"] + 0.5 * frame["age"])  # rises with age
    result = estimate.estimate("mean", "vitd_serum_nmol", where="age >= 20", frame=young, params=PARAMS,
                               age_adjust="adults_2000", weight="wt_mec").table.set_index("statistic")
    crude = result.loc["mean of vitd_serum_nmol", "estimate"]
    adjusted = result.loc["age-adjusted mean of vitd_serum_nmol (adults_2000)", "estimate"]
    assert crude != pytest.approx(adjusted, rel=1e-3)  # the synthetic age mix (uniform 20-80) is not the standard's


def test_standards_and_their_misuse():
    assert sum(ADULTS.shares.values()) == pytest.approx(1)
    assert ADULTS.shares["20-39"] == pytest.approx(77670 / (77670 + 72816 + 45364))
    written = estimate.age_standard("20-39:2,40-59:1", PARAMS)
    assert written.shares == {"20-39": pytest.approx(2 / 3), "40-59": pytest.approx(1 / 3)}
    for bad in ["nonsense", "20-39:x", "40-20:5", "20-40:1,30-50:1", "20-39:-1"]:
        with pytest.raises(ConfigError, match="--age-adjust"):
            estimate.age_standard(bad, PARAMS)
    assert len(estimate.age_standard("all_ages_2000", PARAMS).shares) == 10


def test_a_standard_the_domain_does_not_cover_is_a_clear_error(frame):
    with pytest.raises(DataError, match=r"no one in the domain is in age group\(s\) \['<1'\]"):
        estimate.estimate("mean", "vitd_serum_nmol", frame=frame.assign(age=frame["age"].clip(lower=1)), params=PARAMS,
                          age_adjust="all_ages_2000", weight="wt_mec")
    with pytest.raises(ConfigError, match="goes with mean or proportion"):
        estimate.estimate("total", "vitd_serum_nmol", frame=frame, params=PARAMS, age_adjust="adults_2000")
