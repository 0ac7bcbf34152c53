# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tour of the analytic table
#
# Who is in `data_clean/analytic.parquet`, how intake and 25(OH)D are distributed, and what is
# missing. Run `dvc repro` first. Every participant of every cycle is a row; the `in_*` flags
# say who is in which analysis (see `reports/tables/flow.csv`).

# %%
from pathlib import Path

import pandas as pd

from analysis.config import Paths, load_params
from analysis.survey import SurveyData

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
paths = Paths(ROOT)
params = load_params(paths.params)
analytic = pd.read_parquet(paths.analytic)
manifest = pd.read_csv(paths.raw_manifest, sep="\t", dtype=str, keep_default_na=False)
print("provenance:", "; ".join(sorted(manifest.loc[manifest["provenance"] != "", "provenance"].unique())))
analytic.shape

# %% [markdown]
# ## Who is in the data, and in each analysis domain

# %%
analytic.groupby("cycle")[["examined", "in_adults", "in_main", "in_bone"]].sum()

# %%
pd.read_csv(paths.tables / "flow.csv").query("flow == 'main'")

# %% [markdown]
# ## Distributions (design-based: the day-1 dietary weight for intake, the MEC weight for 25(OH)D)

# %%
# A domain is a true/false column: here, examined adults with a 25(OH)D value.
analytic["in_adults_vitd"] = analytic["in_adults"] & analytic["vitd_serum_nmol"].notna()
survey = SurveyData(analytic)
pd.concat([
    survey.mean("vitd_serum_nmol", "wt_mec", "in_adults_vitd"),  # a lab value alone: MEC weight
    survey.mean("mg_total_mg", "wt_day1", "in_main"),  # intake: day-1 dietary weight
    survey.mean("vitd_supp_ug", "wt_day1", "in_main"),
])

# %%
survey.mean("vitd_serum_nmol", "wt_mec", "in_adults_vitd", by="race_eth")

# %% [markdown]
# ## Missingness among examined adults

# %%
adults = analytic[analytic["in_adults"]]
adults[["vitd_serum_nmol", "mg_total_mg", "bmi", "pir", "education", "smoking", "femneck_bmd",
        "osteoporosis_told", "mg_total_2day_mg"]].isna().mean().sort_values(ascending=False).round(3)
