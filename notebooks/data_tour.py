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
# say who is in which analysis (see `reports/tables/flow.csv`). Distributions are drawn with the
# survey weights, so they describe the population, not the sample.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.core.config import Paths, load_params
from analysis.survey.design import SurveyData

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
paths = Paths(ROOT)
params = load_params(paths.params)
analytic = pd.read_parquet(paths.analytic)
usual = pd.read_parquet(paths.data_clean / "usual_intake.parquet")
analytic = analytic.merge(usual, on="seqn", how="left")
manifest = pd.read_csv(paths.raw_manifest, sep="\t", dtype=str, keep_default_na=False)
used = manifest["status"].isin(["verified", "recorded"])  # the files this run read (the rest: why not)
print("provenance:", "; ".join(sorted(manifest.loc[used & (manifest["provenance"] != ""), "provenance"].unique())))
sns.set_theme(style="whitegrid")
# Without dietary recalls (DR1TOT) in the files at hand, the intake cells below say so instead.
HAS_RECALLS = bool(analytic["mg_food_mg"].notna().any())
analytic.shape

# %% [markdown]
# ## Who is in the data, and in each analysis domain

# %%
analytic.groupby("cycle")[["examined", "in_adults", "in_main", "in_bone", "in_aac", "in_crp"]].sum()

# %%
pd.read_csv(paths.tables / "flow.csv").query("flow == 'main'")

# %% [markdown]
# ## Serum 25(OH)D: the population's distribution (MEC weight), with the 30, 50 and 75 nmol/L lines

# %%
adults = analytic[analytic["in_adults"] & analytic["vitd_serum_nmol"].notna()]
fig, ax = plt.subplots(figsize=(8, 4))
sns.histplot(adults, x="vitd_serum_nmol", weights="wt_mec", stat="percent", binwidth=5, ax=ax, color="#5d6d7e")
for cut, color in zip(params["analyze"]["vitd_cutoffs_nmol"], ["#c0392b", "#e67e22", "#27ae60"]):
    ax.axvline(cut, color=color, ls="--", label=f"{cut} nmol/L")
ax.set(xlim=(0, 200), xlabel="Serum 25(OH)D (nmol/L)", ylabel="Adults (%), weighted")
ax.legend();

# %%
# A domain is a true/false column: here, examined adults with a 25(OH)D value.
analytic["in_adults_vitd"] = analytic["in_adults"] & analytic["vitd_serum_nmol"].notna()
survey = SurveyData(analytic)
means = [survey.mean("vitd_serum_nmol", "wt_mec", "in_adults_vitd")]  # a lab value alone: MEC weight
if HAS_RECALLS:  # intake: day-1 dietary weight
    means += [survey.mean("mg_total_mg", "wt_day1", "in_main"), survey.mean("vitd_supp_ug", "wt_day1", "in_main")]
pd.concat(means)

# %% [markdown]
# ## Magnesium intake against the EAR: one day's recall is wider than usual intake
# Intake divided by each person's EAR, so that 1 is the requirement whatever the age and sex
# (day-1 dietary weight).

# %%
if HAS_RECALLS:
    main = analytic[analytic["in_main"]].copy()
    main["one day (food + supplements)"] = main["mg_total_mg"] / main["mg_ear_mg"]
    main["usual (food + supplements)"] = main["mg_total_usual_mg"] / main["mg_ear_mg"]
    long = main.melt(id_vars=["wt_day1"], value_vars=["one day (food + supplements)", "usual (food + supplements)"],
                     var_name="intake", value_name="ratio")
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.histplot(long, x="ratio", hue="intake", weights="wt_day1", stat="percent", common_norm=False,
                 binwidth=0.05, element="step", ax=ax)
    ax.axvline(1, color="black", ls="--")
    ax.text(1.02, ax.get_ylim()[1] * 0.9, "EAR")
    ax.set(xlim=(0, 3), xlabel="Magnesium intake / EAR", ylabel="Adults (%), weighted")
else:
    print("Not drawn: this mirror has no dietary recalls (DR1TOT), so no magnesium intake from foods.")

# %% [markdown]
# ## Supplemental vitamin D among supplement users (day-1 weight)

# %%
# The main domain needs food intake; on a mirror without recalls, adults with a day-1 supplement recall.
domain = analytic["in_main"] if HAS_RECALLS else analytic["in_adults"] & (analytic["wt_day1"] > 0)
users = analytic[domain & (analytic["vitd_supp_ug"] > 0)]
fig, ax = plt.subplots(figsize=(8, 3.5))
sns.histplot(users, x="vitd_supp_ug", weights="wt_day1", stat="percent", bins=np.geomspace(1, 1000, 40).tolist(), ax=ax)
ax.set_xscale("log")
ax.set(xlabel="Supplemental vitamin D, day 1 (µg/day, log scale)", ylabel="Users (%), weighted");

# %% [markdown]
# ## What is missing, by variable and cycle (examined adults)
# Blank cycles are components NHANES did not publish in that cycle (CRP in 2011-2014, aortic
# calcification outside 2013-2014), not missing answers.

# %%
examined = analytic[analytic["in_adults"]]
variables = ["vitd_serum_nmol", "mg_food_mg", "mg_food_day2_mg", "vitd_supp_30d_ug", "bmi", "pir", "education",
             "smoking", "femneck_bmd", "aac24_score", "crp_mg_l"]
missing = examined[variables].isna().groupby(examined["cycle"]).mean().astype(float).T
# a cycle whose file NHANES never published is left blank, not drawn as 100% missing
published_in = {"femneck_bmd": ["DXXFEM"], "aac24_score": ["DXXAAC"], "crp_mg_l": ["CRP", "HSCRP"],
                "mg_food_day2_mg": ["DR2TOT"]}
for variable, components in published_in.items():
    rows = manifest[manifest["component"].isin(components)]
    never = [c for c in missing.columns if (rows.loc[rows["cycle"] == c, "status"] == "absent in cycle").all()]
    missing.loc[variable, never] = np.nan
fig, ax = plt.subplots(figsize=(8, 4.5))
sns.heatmap(100 * missing, annot=True, fmt=".0f", cmap="rocket_r", vmin=0, vmax=100,
            cbar_kws={"label": "% missing"}, ax=ax)
ax.set(xlabel="cycle", ylabel="");
