"""The clean stage on the synthetic mirror, checked against a second, independent path from the raw files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from analysis.survey.design import SurveyData
from tests.conftest import SYNTHETIC_MIRROR

pytestmark = pytest.mark.mirror


@pytest.fixture(scope="module")
def analytic(mirror_project) -> pd.DataFrame:
    return pd.read_parquet(mirror_project / "data_clean/analytic.parquet")


def demo_rows(cycle: str) -> int:
    manifest = pd.read_csv(SYNTHETIC_MIRROR / "MANIFEST.tsv", sep="\t")
    return int(manifest.loc[(manifest["cycle"] == cycle) & manifest["file"].str.startswith("DEMO_"), "rows"].iloc[0])


def test_rows_per_cycle_equal_demo(analytic):
    counts = analytic.groupby("cycle").size()
    assert len(counts) == 6
    for cycle, n in counts.items():
        assert n == demo_rows(cycle), cycle
    assert analytic["seqn"].is_unique


def test_flow_accounts_for_every_participant(mirror_project, analytic):
    from analysis.clean.domains import cycles_of
    from analysis.core.config import load_params

    params = load_params(mirror_project / "params.yaml")
    flow = pd.read_csv(mirror_project / "reports/tables/flow.csv")
    for name, steps in flow.groupby("flow"):
        steps = steps.sort_values("step")
        # each flow starts from everyone in DEMO of its cycles (the Deng flow's 2001-2006: none on this mirror)
        assert steps["n_remaining"].iloc[0] == analytic["cycle"].isin(cycles_of(name, params)).sum()
        if name == "deng":
            assert steps["n_remaining"].iloc[0] == 0 and not analytic["in_deng"].any()
            continue
        remaining = steps["n_remaining"].to_numpy()
        excluded = steps["n_excluded"].to_numpy()
        assert (remaining[:-1] - excluded[1:] == remaining[1:]).all(), name
        flag = {"main": "in_main", "supplements": "in_supp", "bone": "in_bone", "aac": "in_aac", "crp": "in_crp",
                "mortality": "in_mort", "deng": "in_deng"}[name]
        assert remaining[-1] == analytic[flag].sum() > 0


def test_dictionary_documents_every_column(mirror_project, analytic):
    dictionary = pd.read_csv(mirror_project / "data_clean/dictionary.csv")
    assert list(dictionary.loc[dictionary["file"] == "analytic.parquet", "column"]) == list(analytic.columns)
    assert dictionary[["description", "source", "rule"]].notna().all().all()


def independent_adults(cycle_dir: Path, suffix: str) -> pd.DataFrame:
    """Examined, non-pregnant adults with 25(OH)D, straight from DEMO and VID (no package code)."""
    demo, _ = pyreadstat.read_xport(str(cycle_dir / f"DEMO_{suffix}.XPT"), encoding="latin1")
    vid, _ = pyreadstat.read_xport(str(cycle_dir / f"VID_{suffix}.XPT"), encoding="latin1")
    both = demo.merge(vid[["SEQN", "LBXVIDMS"]], on="SEQN", how="left")
    both["domain"] = ((both["RIDSTATR"] == 2) & (both["RIDAGEYR"] >= 20) & (both["RIDEXPRG"] != 1)
                      & both["LBXVIDMS"].notna() & (both["WTMEC2YR"] > 0))
    both["below50"] = (both["LBXVIDMS"] < 50).where(both["LBXVIDMS"].notna())
    return both.rename(columns={"SDMVSTRA": "sdmvstra", "SDMVPSU": "sdmvpsu", "SEQN": "seqn"})


@pytest.mark.parametrize("cycle,suffix", [("2007-2008", "E"), ("2011-2012", "G"), ("2017-2018", "J")])
def test_weighted_adult_vitamin_d_matches_raw_files(analytic, cycle, suffix):
    raw = independent_adults(SYNTHETIC_MIRROR / cycle, suffix)
    direct_mean = SurveyData(raw).mean("LBXVIDMS", "WTMEC2YR", "domain")
    direct_share = SurveyData(raw).proportion("below50", "WTMEC2YR", "domain")

    ours = analytic.assign(
        domain=analytic["in_adults"] & analytic["vitd_serum_nmol"].notna() & (analytic["cycle"] == cycle),
        below50=(analytic["vitd_serum_nmol"] < 50).astype("boolean").mask(analytic["vitd_serum_nmol"].isna()),
    )
    pipeline_mean = SurveyData(ours).mean("vitd_serum_nmol", "wt_mec", "domain")
    pipeline_share = SurveyData(ours).proportion("below50", "wt_mec", "domain")
    # The pooled design has more strata, but a domain inside one cycle uses only that
    # cycle's PSUs, so estimate, SE and df must match the single-cycle computation.
    for a, b in [(pipeline_mean, direct_mean), (pipeline_share, direct_share)]:
        np.testing.assert_allclose(a[["estimate", "std_error", "ci_low", "ci_high", "df"]].to_numpy(dtype=float),
                                   b[["estimate", "std_error", "ci_low", "ci_high", "df"]].to_numpy(dtype=float), rtol=1e-9)
        assert a["n"].iloc[0] == b["n"].iloc[0] > 1000
