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
# # Ask your own question
#
# `estimate` answers a population question without a model: a design-based mean, proportion,
# percentiles or total of any documented column (`data_clean/dictionary.csv`), in a domain,
# by groups, for chosen cycles. It picks the weight from the variables used and flags (or
# suppresses) estimates that fail NCHS's presentation standards. The same call from the shell:
# `python -m analysis estimate proportion vitd_serum_nmol --below 50 --where "sex == 'female' & age >= 60"`.
# `search` finds a variable, `describe` explains it, `--age-adjust` standardizes an estimate to the
# 2000 US population as NCHS Data Briefs do, and `model` fits a design-based regression from a
# formula. Run `dvc repro` first.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from analysis.commands import lookup, modeling
from analysis.core.errors import DataError
from analysis.commands.estimate import estimate

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
sns.set_theme(style="whitegrid")


def plot(result, xlabel: str, percent: bool = False):
    """Each row's estimate with its 95% CI; suppressed cells are not drawn."""
    table = result.table[result.table["reliability"] != "suppressed"]
    if table.empty:  # nothing meets NCHS's standards: no empty axes
        print("Not drawn: every estimate here is suppressed under NCHS's presentation standards.")
        return None
    scale = 100 if percent else 1
    labels = [f"{g} {s.split(' of ')[0]}" if s.startswith(("p", "age-adjusted")) else g
              for g, s in zip(table["group"], table["statistic"])]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))
    ax.errorbar(scale * table["estimate"], range(len(table)),
                xerr=[scale * (table["estimate"] - table["ci_low"]), scale * (table["ci_high"] - table["estimate"])],
                fmt="o", capsize=4, color="#34495e")
    ax.set_yticks(range(len(table)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(result.question, fontsize=9)
    return ax


# %% [markdown]
# ## 1. What share of women 60+ had 25(OH)D below 50 nmol/L in 2017-2018 ...

# %%
low = estimate("proportion", "vitd_serum_nmol", below=50, where="sex == 'female' & age >= 60",
               cycles=["2017-2018"], root=ROOT)
print(low.text())
plot(low, "% with 25(OH)D < 50 nmol/L (95% CI)", percent=True);

# %% [markdown]
# ## ... and how many of them took a vitamin D supplement?
# The supplement comes from the day-1 supplement recall, so the weight becomes the day-1
# dietary weight; the answer is a share of those women and a population count.

# %%
users = estimate("proportion", "vitd_supp_user", where="sex == 'female' & age >= 60 & vitd_serum_nmol < 50",
                 cycles=["2017-2018"], root=ROOT)
count = estimate("total", "vitd_supp_user", where="sex == 'female' & age >= 60 & vitd_serum_nmol < 50",
                 cycles=["2017-2018"], root=ROOT)
print(users.text(), "\n", count.text(), sep="\n")
plot(users, "% taking a vitamin D supplement (95% CI)", percent=True);

# %% [markdown]
# ## 2. Usual magnesium intake by sex and age group (day-1 dietary weight, usual-intake model)
# Each person's usual intake is a prediction of the usual-intake model, so its SEs come from the
# design's replicates, each rerunning that model and the mean (the header says so; a few seconds).
# The usual-intake model needs the dietary recalls (DR1TOT/DR2TOT). Where the mirror lacks
# them, `estimate` says so, and the question falls back to what every mirror has: usual
# magnesium from supplements (30-day questionnaire, interview weight).

# %%
try:
    usual = estimate("mean", "mg_total_usual_mg", by=["sex", "age_group"], root=ROOT)
    label = "mean usual magnesium intake, food + supplements (mg/day)"
except DataError as absent:
    print(f"Not answerable from this mirror: {absent}\n")
    usual = estimate("mean", "mg_supp_usual_mg", by=["sex", "age_group"], root=ROOT)
    label = "mean usual magnesium intake from supplements only (mg/day)"
print(usual.text())
plot(usual, label);

# %% [markdown]
# ## 3. The 25(OH)D distribution of vitamin D supplement users and non-users

# %%
percentiles = estimate("percentiles", "vitd_serum_nmol", percentiles=[10, 25, 50, 75, 90], by=["vitd_supp_user"],
                       root=ROOT)
print(percentiles.text())
plot(percentiles, "serum 25(OH)D (nmol/L), percentile with Woodruff 95% CI");


# %% [markdown]
# ## 4. Find a variable and see what it is
# `search` is a case-insensitive regular expression over every variable's name and label in the
# downloaded files, the catalog and the analytic table; `describe` gives one column's definition,
# sources, rule, weight and counts by cycle.

# %%
found = lookup.search("magnesium", ROOT)
print(found[["where", "name", "label"]].head(12).to_string(index=False))
print()
print(lookup.describe("mg_total_mg", ROOT).text())

# %% [markdown]
# ## 5. An age-adjusted share, as NCHS reports it
# Direct standardization to the 2000 US population of adults (20-39, 40-59, 60+): each sex's share
# with 25(OH)D below 50 nmol/L, crude and age-adjusted side by side.

# %%
adjusted = estimate("proportion", "vitd_serum_nmol", below=50, by=["sex"], age_adjust="adults_2000", root=ROOT)
print(adjusted.text())
plot(adjusted, "% with 25(OH)D < 50 nmol/L, crude and age-adjusted (95% CI)", percent=True);

# %% [markdown]
# ## 6. A model in one call
# A design-based linear model of 25(OH)D on vitamin D supplement use, one day's magnesium adequacy
# and their product, adjusted for age, sex and race/ethnicity (reference levels named in the
# formula or taken from params.yaml); the weight is chosen from the variables.

# %%
fitted = modeling.fit("vitd_serum_nmol ~ vitd_supp_user * mg_adequate + age + C(sex, contr.treatment('female')) "
                      "+ C(race_eth)", where="age >= 20", root=ROOT)
print(fitted.text())
