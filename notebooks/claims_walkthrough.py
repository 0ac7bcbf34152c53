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
# # The article's claims, one by one
#
# The verdict table (`reports/claims.csv`) with each claim's rule, and the table behind it.
# Run `dvc repro` first. Verdict rules were fixed in `params.yaml` (`verdicts`) before the numbers.

# %%
from pathlib import Path

import pandas as pd

import matplotlib.pyplot as plt
import seaborn as sns

from analysis.claims import registry as claims
from analysis.core.config import Paths, load_params

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
paths = Paths(ROOT)
params = load_params(paths.params)
verdicts = pd.read_csv(paths.reports / "claims.csv")
verdicts[["claim_id", "test", "estimate", "ci_low", "ci_high", "verdict"]]

# %% [markdown]
# ## How a verdict is reached
# The rule reads the estimate's 95% CI. Here it is recomputed from the table for each claim.

# %%
for row in verdicts.itertuples():
    rule = params["verdicts"][row.claim_id]
    evidence = [] if pd.isna(row.estimate) else [claims.Evidence(row.estimate, row.ci_low, row.ci_high)]
    if rule["rule"] in ("greater_than", "less_than", "equivalent") and evidence:
        assert claims.decide(rule, evidence) == row.verdict
    print(f"{row.claim_id}: {row.verdict:>28}  rule: {claims.describe(rule)}")

# %% [markdown]
# ## Each estimate against its rule's bounds
# The verdict's estimate and 95% CI (dot and bar), the null (black) and the rule's margin (red):
# a CI wholly on one side of a line is what a rule reads.

# %%
sns.set_theme(style="whitegrid")
shown = verdicts.dropna(subset=["estimate"])
fig, axes = plt.subplots(len(shown), 1, figsize=(7, 1.1 * len(shown)), squeeze=False)
for ax, row in zip(axes[:, 0], shown.itertuples()):
    rule = params["verdicts"][row.claim_id]
    ax.errorbar([row.estimate], [0], xerr=[[row.estimate - row.ci_low], [row.ci_high - row.estimate]], fmt="o",
                capsize=4, color="#34495e")
    for key, color in (("h0", "black"), ("margin", "#c0392b")):
        if key in rule:
            ax.axvline(rule[key], color=color, lw=1)
    ax.set_yticks([])
    ax.set_ylabel(row.claim_id, rotation=0, labelpad=18)
    ax.set_title(row.verdict, fontsize=8, loc="right")
fig.tight_layout()

# %% [markdown]
# ## The tables behind C1 and C4

# %%
use = pd.read_csv(paths.tables / "interaction_use.csv")
use[use["term"].str.contains("effect|interaction")][["model", "term", "estimate", "ci_low", "ci_high"]]

# %%
bone = pd.read_csv(paths.tables / "bone_or.csv")
bone[bone["term"].str.startswith("OR")][["model", "term", "estimate", "ci_low", "ci_high"]]
