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
# # The main interaction, step by step
#
# Does magnesium adequacy modify the association between vitamin D supplement use and serum
# 25(OH)D? This walks through the model the analyze stage fits on one day's intake
# (`reports/tables/interaction_use.csv`) with the survey layer, so each number can be
# reproduced by hand, then sets it beside the primary model on usual intake. Run `dvc repro` first.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from analysis.analyses.common import Context
from analysis.core.config import Paths, load_params
from analysis.survey.weights import for_cycles

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
paths = Paths(ROOT)
params = load_params(paths.params)
# The main analyses' cycles (params analyze.cycles), weights re-pooled over them; the table
# holds the analysis-time columns too (dose10, vitd_below_50, ...).
frame = for_cycles(pd.read_parquet(paths.analytic), list(params["analyze"]["cycles"]), available_only=True)
print("cycles:", ", ".join(params["analyze"]["cycles"]))
ctx = Context(frame, params)
sns.set_theme(style="whitegrid")
# Without dietary recalls (DR1TOT) in the files at hand, the pipeline's stand-in runs instead,
# with magnesium *supplement* use as the modifier (supplemental magnesium only).
HAS_RECALLS = bool(frame["mg_food_mg"].notna().any())
if HAS_RECALLS:
    DOMAIN, MODIFIER, DROP = "in_main", "mg_adequate", ()
else:
    DOMAIN, MODIFIER, DROP = "in_supp", "mg_supp_user", ("kcal", "ca_total_mg")
    print("No food intake on this mirror: modifier = magnesium supplement use (supplemental magnesium only)")
print("covariates:", ", ".join(c for c in ctx.covariates if c not in DROP))

# %% [markdown]
# ## 1. The domain and the weight
# Adults in the main domain (flag `in_main`; `in_supp` for the stand-in), day-1 dietary weight
# divided by the cycles pooled. The domain is a subpopulation of the full design: no row is dropped.

# %%
frame[DOMAIN].sum(), frame.loc[frame[DOMAIN], "wt_day1"].sum()

# %% [markdown]
# ## 2. The model: 25(OH)D ~ supplement use x magnesium adequacy + covariates

# %%
interaction = f"vitd_supp_user:{MODIFIER}"
exposures = ["vitd_supp_user", MODIFIER, interaction]
spec = ctx.spec("vitd_serum_nmol", exposures, drop=DROP)
model = ctx.fit(spec, "wt_day1", DOMAIN)
model.table().head(4)

# %% [markdown]
# ## 3. The interaction and the supplement association in each magnesium group

# %%
pd.concat([
    model.wald([interaction], "interaction Wald F"),
    model.lincom({"vitd_supp_user": 1}, f"supplement | {MODIFIER} = 0"),
    model.lincom({"vitd_supp_user": 1, interaction: 1}, f"supplement | {MODIFIER} = 1"),
])

# %% [markdown]
# ## 4. The fitted lines over the data
# Design-based mean 25(OH)D by supplemental dose band and magnesium group (points), and the
# dose model's prediction for the reference adult with its 95% CI (lines), from the
# pipeline's tables.

# %%
def not_testable(table: pd.DataFrame) -> bool:
    """The pipeline writes one 'not testable' row, with the reason, where the data lack a file."""
    if "term" in table and (table["term"] == "not testable").all():
        print("Not drawn:", table["note"].iloc[0])
        return True
    return False


binned = pd.read_csv(paths.tables / "dose_binned_means.csv")
curve = pd.read_csv(paths.tables / "dose_curve.csv")
if not not_testable(curve):
    curve = curve.query("model == 'linear'")
    middle = {"0": 0.0, "<20": 10.0, "20-50": 35.0, ">50": 75.0}
    colors = {"mg_inadequate": "#c0392b", "mg_adequate": "#2471a3"}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for group, color in colors.items():
        points = binned[binned["mg_group"] == group].assign(dose=lambda t: t["dose_band"].map(middle)).sort_values("dose")
        ax.errorbar(points["dose"], points["estimate"], yerr=[points["estimate"] - points["ci_low"],
                                                              points["ci_high"] - points["estimate"]],
                    fmt="o", color=color, capsize=3, label=f"{group}: weighted mean by dose band")
        line = curve[curve["mg_group"] == group].sort_values("dose_ug")
        ax.plot(line["dose_ug"], line["estimate"], color=color, label=f"{group}: model, reference adult")
        ax.fill_between(line["dose_ug"], line["ci_low"], line["ci_high"], color=color, alpha=0.15)
    ax.set(xlabel="Supplemental vitamin D (µg/day)", ylabel="Serum 25(OH)D (nmol/L), 95% CI", xlim=(-3, 130))
    ax.legend(fontsize=7);

# %% [markdown]
# ## 5. Usual intake: the primary model
# One day's adequacy misclassifies many adults and pulls the interaction toward zero; the
# primary model uses each person's probability of usual adequacy (regression calibration,
# replicate-weight CIs). The same interaction, on each basis:

# %%
comparison = pd.read_csv(paths.tables / "usual_vs_day1.csv")
if not not_testable(comparison):
    comparison = comparison.query("claim_id == 'C1'")
    fig, ax = plt.subplots(figsize=(7, 2.5))
    ax.errorbar(comparison["estimate"], range(len(comparison)), xerr=[comparison["estimate"] - comparison["ci_low"],
                                                                       comparison["ci_high"] - comparison["estimate"]],
                fmt="s", capsize=4, color="#34495e")
    ax.set_yticks(range(len(comparison)), comparison["basis"])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Supplement use x magnesium adequacy interaction (nmol/L), 95% CI");
    display(comparison[["basis", "estimate", "ci_low", "ci_high"]])
