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
# 25(OH)D? This walks through the model the analyze stage fits (`reports/tables/interaction_use.csv`)
# with the survey layer, so each number can be reproduced by hand. Run `dvc repro` first.

# %%
from pathlib import Path

import pandas as pd

from analysis.analyses import features
from analysis.analyses.common import Context
from analysis.config import Paths, load_params

ROOT = Path.cwd() if (Path.cwd() / "params.yaml").exists() else Path.cwd().parent
paths = Paths(ROOT)
params = load_params(paths.params)
frame = features.add(pd.read_parquet(paths.analytic), params)
ctx = Context(frame, params)
print("covariates:", ", ".join(ctx.covariates))

# %% [markdown]
# ## 1. The domain and the weight
# Adults in the main domain (flag `in_main`), day-1 dietary weight divided by the cycles pooled.
# The domain is a subpopulation of the full design: no row is dropped.

# %%
frame["in_main"].sum(), frame.loc[frame["in_main"], "wt_day1"].sum()

# %% [markdown]
# ## 2. The model: 25(OH)D ~ supplement use x magnesium adequacy + covariates

# %%
exposures = ["vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate"]
spec = ctx.spec("vitd_serum_nmol", exposures)
model = ctx.fit(spec, "wt_day1", "in_main")
model.table().head(4)

# %% [markdown]
# ## 3. The interaction and the supplement association in each magnesium group

# %%
pd.concat([
    model.wald(["vitd_supp_user:mg_adequate"], "interaction Wald F"),
    model.lincom({"vitd_supp_user": 1}, "supplement | Mg below EAR"),
    model.lincom({"vitd_supp_user": 1, "vitd_supp_user:mg_adequate": 1}, "supplement | Mg at/above EAR"),
])

# %% [markdown]
# ## 4. The same numbers in the pipeline's table

# %%
table = pd.read_csv(paths.tables / "interaction_use.csv")
table[table["model"] == "use_x_mg_adequacy"].tail(4)[["term", "estimate", "ci_low", "ci_high", "p_value"]]
