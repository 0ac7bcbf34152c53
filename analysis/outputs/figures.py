"""One function per figure. Each draws only from tables on disk (reports/tables/*.csv), never
recomputes, so a reviewer can check every plotted number in its table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.core import atomic  # noqa: E402

MG_COLORS = {"mg_inadequate": "#c0392b", "mg_adequate": "#2471a3"}
MG_LABELS = {"mg_inadequate": "Mg intake below EAR", "mg_adequate": "Mg intake at or above EAR"}
DOSE_BAND_X = {"0": 0.0, "<20": 1.0, "20-50": 2.0, ">50": 3.0}


def save(fig: plt.Figure, path: Path) -> None:
    """PNG without a timestamp or version in its metadata, so reruns give identical bytes."""
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def ci_arms(table, scale: float = 1.0, suffix: str = "") -> list:
    """Error-bar arms (below, above) from a table's estimate and 95% CI columns, times `scale`."""
    estimate = table[f"estimate{suffix}"]
    return [scale * (estimate - table[f"ci_low{suffix}"]), scale * (table[f"ci_high{suffix}"] - estimate)]


def _style() -> None:
    sns.set_theme(style="whitegrid", context="notebook")


def dose_response(binned: pd.DataFrame, curve: pd.DataFrame) -> plt.Figure:
    _style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=False)
    for group, color in MG_COLORS.items():
        rows = binned[binned["mg_group"] == group].copy()
        rows["x"] = rows["dose_band"].map(DOSE_BAND_X) + (0.06 if group == "mg_adequate" else -0.06)
        rows = rows.sort_values("x")
        left.errorbar(rows["x"], rows["estimate"], yerr=ci_arms(rows),
                      fmt="o-", color=color, capsize=4, label=MG_LABELS[group])
        for model, style in [("linear", "-"), ("spline", "--")]:
            c = curve[(curve["mg_group"] == group) & (curve["model"] == model)].sort_values("dose_ug")
            right.plot(c["dose_ug"], c["estimate"], style, color=color,
                       label=f"{MG_LABELS[group]} ({'linear' if model == 'linear' else 'linear spline'})")
            if model == "linear":
                right.fill_between(c["dose_ug"], c["ci_low"], c["ci_high"], color=color, alpha=0.18)
    left.set_xticks(list(DOSE_BAND_X.values()), [f"{k} µg/day" if k != "0" else "none" for k in DOSE_BAND_X])
    left.set_xlabel("Supplemental vitamin D, day 1 (dose band)")
    left.set_ylabel("Serum 25(OH)D (nmol/L), design-based mean, 95% CI")
    left.set_title("Observed: weighted mean by dose band")
    left.legend(fontsize=8)
    right.set_xlabel("Supplemental vitamin D (µg/day)")
    right.set_ylabel("Predicted serum 25(OH)D (nmol/L), 95% CI")
    right.set_title("Model: reference adult (see methods)")
    for cut, label in [(50, "50 nmol/L"), (75, "75 nmol/L")]:
        right.axhline(cut, color="grey", lw=0.8, ls=":")
        right.text(curve["dose_ug"].max(), cut, label, va="bottom", ha="right", fontsize=8, color="grey")
    right.legend(fontsize=7)
    fig.suptitle("25(OH)D and supplemental vitamin D by magnesium adequacy")
    return fig


def level_of(group: pd.Series) -> pd.Series:
    """The level in a group key "<column> = <level>"."""
    return group.str.rsplit(" = ", n=1).str[-1]


RATIO_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.7, 1, 1.5, 2, 3, 4, 5, 10)


def ratio_axis(ax, low: float, high: float) -> None:
    """A log-scale ratio axis labelled as ratios (0.5, 1, 2), never as powers of ten."""
    ax.set_xscale("log")
    ticks = [t for t in RATIO_TICKS if low / 1.2 <= t <= high * 1.2] or [1]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def forest(sensitivity: pd.DataFrame, usual: pd.DataFrame | None = None) -> plt.Figure:
    """Supplement users vs non-users by magnesium group: the primary analysis on usual intake
    (regression-calibrated, when `usual` is given) above the day-1 analyses."""
    _style()
    rows = sensitivity[sensitivity["quantity"].eq("effect") & (sensitivity["analysis"] != "log_25ohd")].copy()
    rows["analysis"] = rows["analysis"].replace({"main": "day-1 intake"})
    if usual is not None:
        calibrated = usual[(usual["model"] == "use_x_mg_adequacy_usual") & usual["quantity"].eq("effect")].copy()
        calibrated["analysis"] = "usual intake, calibrated (primary)"
        rows = pd.concat([calibrated, rows], ignore_index=True)
    rows["group"] = np.where(level_of(rows["group"]) == "1", "mg_adequate", "mg_inadequate")
    analyses = list(dict.fromkeys(rows["analysis"]))
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(analyses) + 1.6))
    for group, color in MG_COLORS.items():
        g = rows[rows["group"] == group]
        y = [analyses.index(a) + (0.15 if group == "mg_adequate" else -0.15) for a in g["analysis"]]
        ax.errorbar(g["estimate"], y, xerr=ci_arms(g),
                    fmt="o", color=color, capsize=3, label=MG_LABELS[group])
    ax.set_yticks(range(len(analyses)), [a.replace("_", " ") for a in analyses])
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Difference in 25(OH)D, supplement users vs non-users (nmol/L), 95% CI")
    ax.set_title("Supplement use and 25(OH)D by magnesium group: usual intake and day-1 sensitivity analyses")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return fig


def prevalence_by_quartile(prevalence: pd.DataFrame) -> plt.Figure:
    _style()
    rows = prevalence[(prevalence["group_by"] == "mg_quartile")].copy()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    cut_colors = dict(zip(sorted(rows["model"].unique()), sns.color_palette("rocket", 3)))
    for i, (measure, g) in enumerate(rows.groupby("model", sort=True)):
        g = g.sort_values("group")
        x = np.arange(len(g)) + (i - 1) * 0.22
        ax.errorbar(x, 100 * g["estimate"], yerr=ci_arms(g, 100),
                    fmt="o", capsize=3, color=cut_colors[measure],
                    label="25(OH)D < " + measure.rsplit("_", 1)[-1] + " nmol/L")
    ax.set_xticks(range(4), ["Q1 (lowest)", "Q2", "Q3", "Q4 (highest)"])
    ax.set_xlabel("Total magnesium intake quartile (food + supplements, day 1)")
    ax.set_ylabel("Adults (%), 95% CI")
    ax.set_title("Low vitamin D status by magnesium intake")
    ax.legend(fontsize=8)
    return fig


USUAL_BASES = [("day1", "one day"), ("2day", "two-day mean"), ("usual", "usual intake (model)")]
USUAL_SOURCES = [("mg_food", "food"), ("mg_total", "food + supplements")]


def usual_distribution(table: pd.DataFrame, ear_range: tuple[float, float]) -> plt.Figure:
    """Magnesium intake of adults by basis: percentiles 5-95 (thin), 25-75 (thick), median
    (dot), and the share below the EAR with its CI, from reports/tables/usual_intake.csv."""
    _style()
    rows = table[table["group"] == "all"]
    value = dict(zip(rows["term"], rows["estimate"]))
    low = dict(zip(rows["term"], rows["ci_low"]))
    high = dict(zip(rows["term"], rows["ci_high"]))
    fig, ax = plt.subplots(figsize=(9, 4.8))
    ax.axvspan(*ear_range, color="#f5cba7", alpha=0.5, label=f"EAR by age and sex ({ear_range[0]:g}-{ear_range[1]:g} mg/day)")
    labels = []
    y = 0
    for source, source_label in USUAL_SOURCES:
        for basis, basis_label in USUAL_BASES:
            stem = f"{source}_{basis}" if basis != "usual" else f"{source}_usual"
            if f"{stem}_p50" not in value:
                continue
            color = "#16a085" if basis == "usual" else "#7f8c8d"
            ax.plot([value[f"{stem}_p05"], value[f"{stem}_p95"]], [y, y], color=color, lw=1.5)
            ax.plot([value[f"{stem}_p25"], value[f"{stem}_p75"]], [y, y], color=color, lw=7, solid_capstyle="butt")
            ax.plot(value[f"{stem}_p50"], y, "o", color="white", mec=color, ms=7)
            share = f"{stem}_below_ear"
            ax.text(value[f"{stem}_p95"] + 12, y, f"{100 * value[share]:.1f}% below EAR "
                    f"({100 * low[share]:.1f}-{100 * high[share]:.1f})", va="center", fontsize=8)
            labels.append(f"{source_label}: {basis_label}")
            y += 1
        y += 0.5
    ax.set_yticks([i + (0.5 if i >= 3 else 0) for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel("Magnesium intake, adults (mg/day): percentiles 5-95, 25-75, median")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.3)
    ax.set_title("Magnesium intake against the EAR: one day, two-day mean, usual intake")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return fig


def mg_distribution(distribution: pd.DataFrame) -> plt.Figure:
    _style()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for source, color in [("food", "#7f8c8d"), ("food + supplements", "#16a085")]:
        g = distribution[distribution["source"] == source]
        lows = g["bin"].str.extract(r"^([0-9.]+)")[0].astype(float).to_numpy()
        shares = 100 * g["estimate"].to_numpy()
        width = lows[1] - lows[0]
        # close the last (open-ended) bin at one bin width, so every bin is drawn alike
        ax.step(np.append(lows, lows[-1] + width), np.append(shares, shares[-1]), where="post",
                color=color, label=source, lw=2)
    ax.axvline(1.0, color="black", ls="--", lw=1)
    ax.text(1.02, ax.get_ylim()[1] * 0.92, "EAR", fontsize=9)
    ax.set_xlabel("Magnesium intake / EAR (day 1; last bin open-ended)")
    ax.set_ylabel("Adults (%) per 0.1 bin")
    ax.set_title("Magnesium intake against the Estimated Average Requirement")
    ax.legend(fontsize=8)
    return fig


def bone(bone_or: pd.DataFrame, claimed: float) -> plt.Figure:
    _style()
    rows = bone_or[bone_or["quantity"].eq("effect")].copy()
    rows["label"] = rows["model"].str.replace("_by_intake_adequacy", "").str.replace("_", " ") + ": " + \
        rows["term"].str.replace("OR ", "")
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ax.errorbar(rows["estimate"], y, xerr=ci_arms(rows),
                fmt="s", color="#34495e", capsize=3)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvline(claimed, color="#c0392b", ls="--", lw=1.2, label=f"article's claim (OR {claimed:g})")
    ratio_axis(ax, min(rows["ci_low"].min(), claimed), max(rows["ci_high"].max(), 1.0))
    ax.set_yticks(y, rows["label"])
    ax.invert_yaxis()
    ax.set_xlabel("Odds ratio of osteoporosis (95% CI, log scale), women aged 50+")
    ax.set_title("Osteoporosis by joint adequacy of magnesium and vitamin D intake")
    ax.legend(fontsize=8)
    return fig


def trends(status: pd.DataFrame, prevalence: pd.DataFrame | None) -> plt.Figure:
    """25(OH)D status by cycle (everyone >= 1 y, MEC weight) and, where intake data exist,
    magnesium inadequacy among adults (day-1 weight)."""
    _style()
    series = [(status, "vitd_below_50", "25(OH)D < 50 nmol/L, ages 1+ (MEC weight)"),
              (status, "vitd_below_30", "25(OH)D < 30 nmol/L, ages 1+ (MEC weight)")]
    if prevalence is not None:
        series += [(prevalence, "mg_food_inadequate", "adults, food Mg below EAR (day-1 weight)"),
                   (prevalence, "mg_inadequate", "adults, food + supplement Mg below EAR")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for table, measure, label in series:
        g = table[(table["group_by"] == "cycle") & (table["model"] == measure)]
        if "domain" in g and measure.startswith("mg_"):
            g = g[g["domain"] == "in_diet_adults"]
        g = g.sort_values("group")
        ax.errorbar(g["group"], 100 * g["estimate"], yerr=ci_arms(g, 100),
                    fmt="o-", capsize=3, label=label)
    ax.set_xlabel("NHANES cycle")
    ax.set_ylabel("Percent (95% CI)")
    ax.set_title("Trends by survey cycle")
    ax.legend(fontsize=8)
    return fig


def supplement_models(table: pd.DataFrame) -> plt.Figure:
    """The supplement association with 25(OH)D with and without a magnesium supplement."""
    _style()
    rows = table[table["quantity"].eq("effect") & table["group"].isin(["mg_supp_user = 0", "mg_supp_user = 1"])].copy()
    rows["label"] = rows["model"].map(supplement_model_label)
    fig, ax = plt.subplots(figsize=(8.5, 0.7 * len(rows) + 1.8))
    y = np.arange(len(rows))
    colors = [MG_COLORS["mg_adequate"] if level == "1" else MG_COLORS["mg_inadequate"] for level in level_of(rows["group"])]
    for yi, (_, r), color in zip(y, rows.iterrows(), colors):
        ax.errorbar([r["estimate"]], [yi], xerr=[[arm] for arm in ci_arms(r)],
                    fmt="o", color=color, capsize=3)
    ax.set_yticks(y, rows["label"], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Difference in 25(OH)D (nmol/L), 95% CI: per supplement use or per 10 µg/day")
    ax.set_title("Vitamin D supplements and 25(OH)D, by magnesium supplement use (supplemental Mg only)")
    handles = [matplotlib.lines.Line2D([], [], marker="o", ls="", color=MG_COLORS[g], label=label)
               for g, label in [("mg_inadequate", "no magnesium supplement"), ("mg_adequate", "magnesium supplement")]]
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    return fig


def supplement_model_label(model: str) -> str:
    """A supplement model's name (supplement_models.csv) in words, for the figure's rows."""
    if model.startswith("supp_use_x"):
        return "vitamin D supplement use"
    if "_doses_up_to_" in model:
        return f"per 10 µg/day of vitamin D, doses up to {model.rsplit('_', 1)[-1].replace('ug', ' µg')}"
    if model.startswith("supp_dose10ug"):
        return "per 10 µg/day of vitamin D"
    return model.replace("_", " ")


def flow(flow_table: pd.DataFrame) -> plt.Figure:
    _style()
    flows = list(dict.fromkeys(flow_table["flow"]))
    # two panels a row, so that the figure stays about a screen wide and its labels readable
    rows = (len(flows) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(flows):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, flows):
        g = flow_table[flow_table["flow"] == name].sort_values("step")
        ax.barh(range(len(g)), g["n_remaining"], color="#5d6d7e")
        for i, r in enumerate(g.itertuples()):
            ax.text(r.n_remaining, i, f" {r.n_remaining:,}" + (f"  (−{r.n_excluded:,})" if r.n_excluded else ""),
                    va="center", fontsize=9)
        ax.set_yticks(range(len(g)), [c.replace("_", " ") for c in g["criterion"]], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, g["n_remaining"].max() * 1.45)
        ax.set_xlabel("Participants remaining")
        ax.set_title(f"{name} analysis")
    fig.suptitle("Exclusion flow (reports/tables/flow.csv)")
    fig.tight_layout()
    return fig


def calcification(by_dose: pd.DataFrame) -> plt.Figure:
    """Share with severe aortic calcification by supplemental vitamin D dose band, within
    magnesium groups (reports/tables/aac_by_dose.csv; design-based, logit CIs)."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for group, color in MG_COLORS.items():
        rows = by_dose[by_dose["mg_group"] == group].copy()
        rows["x"] = rows["dose_band"].map(DOSE_BAND_X) + (0.07 if group == "mg_adequate" else -0.07)
        rows = rows.dropna(subset=["x"]).sort_values("x")
        ax.errorbar(rows["x"], 100 * rows["estimate"], yerr=ci_arms(rows, 100),
                    fmt="o-", color=color, capsize=4,
                    label={"mg_inadequate": "magnesium likely below the EAR", "mg_adequate": "magnesium likely at or above"}[group])
    ax.set_xticks(list(DOSE_BAND_X.values()), [f"{k} µg/day" if k != "0" else "none" for k in DOSE_BAND_X])
    ax.set_xlabel("Supplemental vitamin D (dose band, day 1)")
    ax.set_ylabel("Adults 40+ with severe AAC (AAC-24 > 6), %, 95% CI")
    grouping = by_dose["grouping"].iloc[0] if "grouping" in by_dose else ""
    ax.set_title(f"Aortic calcification by vitamin D dose and magnesium, 2013-2014\n(groups: {grouping}; "
                 "a band without cases has no interval)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def crp_by_vitd(table: pd.DataFrame) -> plt.Figure:
    """Geometric-mean CRP by 25(OH)D band (design-based) and the adjusted model's standardized
    curve with its CI (reports/tables/crp_by_vitd.csv)."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    bands = table[table["kind"] == "band"].sort_values("vitd_nmol")
    curve = table[table["kind"] == "curve"].sort_values("vitd_nmol")
    ax.errorbar(bands["vitd_nmol"], bands["estimate_mg_l"], yerr=ci_arms(bands, suffix="_mg_l"),
                fmt="o", color="#34495e", capsize=4, label="geometric mean by 25(OH)D band (design-based)")
    ax.plot(curve["vitd_nmol"], curve["estimate_mg_l"], color="#c0392b", label="adjusted model, standardized")
    ax.fill_between(curve["vitd_nmol"], curve["ci_low_mg_l"], curve["ci_high_mg_l"], color="#c0392b", alpha=0.15)
    ax.set_xlabel("Serum 25(OH)D (nmol/L)")
    ax.set_ylabel("C-reactive protein (mg/L), geometric mean, 95% CI")
    ax.set_title("C-reactive protein against serum 25(OH)D")
    ax.legend(fontsize=8)
    return fig


def vitd_percentiles(table: pd.DataFrame) -> plt.Figure:
    """25(OH)D percentiles, usual magnesium adequate minus inadequate, by percentile, for all
    adults and by vitamin D supplement use (reports/tables/vitd_percentiles.csv)."""
    _style()
    rows = table[table["term"] == "difference"]
    fig, ax = plt.subplots(figsize=(8, 4.6))
    offsets = {"all": 0.0, "vitd_supp_user=False": -1.2, "vitd_supp_user=True": 1.2}
    labels = {"all": "all adults", "vitd_supp_user=False": "no vitamin D supplement", "vitd_supp_user=True": "vitamin D supplement users"}
    for group, g in rows.groupby("group", sort=False):
        x = g["percentile"] + offsets.get(group, 0)
        ax.errorbar(x, g["estimate"], yerr=ci_arms(g), fmt="o-",
                    capsize=3, label=labels.get(group, group))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(sorted(rows["percentile"].unique()))
    ax.set_xlabel("Percentile of serum 25(OH)D")
    ax.set_ylabel("25(OH)D difference (nmol/L), usual Mg\nadequate minus inadequate, 95% CI")
    ax.set_title("25(OH)D percentiles by usual magnesium adequacy (C1b)")
    # all adults differ more than either supplement group: adults whose magnesium is adequate
    # take vitamin D supplements more often, a difference the within-group lines hold fixed
    ax.legend(fontsize=8, title="all adults include the difference in supplement use", title_fontsize=7)
    return fig


def placeholder(title: str, reason: str) -> plt.Figure:
    """Stands in for a figure whose data the files at hand cannot provide, and says why."""
    fig, ax = plt.subplots(figsize=(8, 2))
    ax.axis("off")
    ax.text(0.5, 0.6, title, ha="center", fontsize=12, weight="bold")
    ax.text(0.5, 0.25, "Not drawn: " + reason[:160], ha="center", fontsize=9, wrap=True)
    return fig


def risk_surface(table: pd.DataFrame, cutoff: float) -> plt.Figure:
    _style()
    grid = table.pivot(index="magnesium_mg", columns="dose_ug", values="estimate").sort_index(ascending=False)
    beyond = table.pivot(index="magnesium_mg", columns="dose_ug", values="beyond_data").sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.set_facecolor("#d5d8dc")  # cells beyond the data stay grey, unlabelled: the model extrapolates there
    sns.heatmap(100 * grid, mask=beyond.astype(bool).to_numpy(), annot=True, fmt=".0f", cmap="rocket_r",
                cbar_kws={"label": f"% with 25(OH)D < {cutoff:g} nmol/L"}, ax=ax)
    ax.grid(False)
    ax.set_xticklabels([f"{v:g}" for v in grid.columns])
    ax.set_yticklabels([f"{v:g}" for v in grid.index], rotation=0)
    label = "Total Mg intake" if table["magnesium_variable"].iloc[0] == "mg_total_mg" else "Supplemental Mg"
    ax.set_ylabel(f"{label} (mg/day)")
    ax.set_xlabel("Supplemental vitamin D (µg/day)")
    ax.set_title("Predicted % with low 25(OH)D if everyone had this intake\n(standardized to the population's covariates; "
                 "grey: too few participants with such intakes, the model extrapolates)", fontsize=10)
    return fig


def calibration(table: pd.DataFrame) -> plt.Figure:
    _style()
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(5.5 * len(outcomes), 4.8))
    for ax, outcome in zip(np.atleast_1d(axes), outcomes):
        for model, marker in [("logistic", "o"), ("boosting", "s")]:
            g = table[(table["outcome"] == outcome) & (table["model"] == model)]
            ax.plot(100 * g["predicted"], 100 * g["observed"], marker=marker, label=model)
        top = 100 * max(table.loc[table["outcome"] == outcome, ["predicted", "observed"]].max())
        ax.plot([0, top], [0, top], color="grey", ls=":", lw=1)
        ax.set_xlabel("Predicted risk (%), out of fold, weighted deciles")
        ax.set_ylabel("Observed (%), weighted")
        ax.set_title(outcome.replace("vitd_below_", "25(OH)D < ") + " nmol/L")
        ax.legend(fontsize=8)
    fig.suptitle("Calibration on PSU-grouped folds")
    fig.tight_layout()
    return fig


SURVIVAL_COLORS = {"both adequate": "#2471a3", "magnesium only": "#48c9b0", "25(OH)D only": "#f5b041",
                   "neither": "#c0392b"}


def mortality_survival(table: pd.DataFrame) -> plt.Figure:
    """Weighted survival by joint magnesium x 25(OH)D category with replicate-weight 95% CIs
    (reports/tables/mortality_survival.csv): all-cause, and free of cardiovascular death."""
    _style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    titles = {"died": "Survival, all causes", "died_cvd": "Free of cardiovascular death (other deaths censored)"}
    for ax, (outcome, title) in zip(axes, titles.items()):
        rows = table[table["outcome"] == outcome]
        for group, g in rows.groupby("group", sort=False):
            color = SURVIVAL_COLORS.get(group)  # crude: weighted, not adjusted (the hazard ratios are)
            ax.step(g["month"], g["estimate"], where="post", color=color, label=group)
            ax.fill_between(g["month"], g["ci_low"], g["ci_high"], step="post", color=color, alpha=0.15)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("Months since the NHANES examination")
    axes[0].set_ylabel("Weighted survival (95% CI)")
    basis = table["basis"].iloc[0] if len(table) else ""
    axes[0].legend(title=f"Mg: {basis}", fontsize=8, title_fontsize=8)
    fig.suptitle("Mortality by joint magnesium and 25(OH)D adequacy (C11): crude survival, weighted but not adjusted "
                 "for covariates\n(the adjusted comparison is the hazard-ratio figure)", fontsize=10, y=1.04)
    return fig


def mortality_hazard_ratios(table: pd.DataFrame, margin: float) -> plt.Figure:
    """Hazard ratios of cardiovascular and all-cause death for each exposure of C11
    (reports/tables/mortality.csv), with the verdict rule's margin."""
    _style()
    wanted = {"vitd_serum_per25": "25(OH)D per 25 nmol/L", "vitd_low": "25(OH)D < 50 nmol/L",
              "mg_adequate_usual": "usual Mg adequate", "both adequate vs neither": "both adequate vs neither",
              "supp_vitd_and_mg": "vitamin D + Mg supplements vs neither"}
    models = {"_by_vitd_per_unit", "_by_vitd_below", "_by_mg_adequacy_usual", "_by_mg_x_vitd_usual",
              "_by_mg_x_vitd_day1", "_by_supplements"}
    rows = table[table["contrast"].isin(wanted) & table["quantity"].isin(["coefficient", "effect"])
                 & table["model"].str.startswith(("died_cvd_by", "died_by"))].copy()
    rows = rows[[any(rows_model.endswith(m) for m in models) for rows_model in rows["model"]]]
    rows = rows[~((rows["contrast"] == "mg_adequate_usual") & rows["model"].str.endswith("_x_vitd_usual"))]
    rows["outcome"] = np.where(rows["model"].str.startswith("died_cvd"), "cardiovascular death", "all causes")
    rows["label"] = rows["contrast"].map(wanted) + np.where(rows["model"].str.endswith("_day1"), " (one day's Mg)", "")
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(rows) + 1.8))
    y = np.arange(len(rows))
    colors = np.where(rows["outcome"] == "cardiovascular death", "#c0392b", "#34495e")
    for i, (_, r) in enumerate(rows.iterrows()):
        ax.errorbar(r["estimate"], y[i], xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                    fmt="s", color=colors[i], capsize=3)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvline(margin, color="#7f8c8d", ls="--", lw=1, label=f"verdict margin (HR {margin:g})")
    ratio_axis(ax, rows["ci_low"].min(), rows["ci_high"].max())
    ax.set_yticks(y, [f"{o}: {lab}" for o, lab in zip(rows["outcome"], rows["label"])], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Hazard ratio (95% CI, log scale)")
    ax.set_title("Mortality hazard ratios (C11)")
    ax.legend(fontsize=8)
    return fig


def deng_replication(table: pd.DataFrame) -> plt.Figure:
    """Highest vs lowest intake quartile, odds ratios of 25(OH)D deficiency and insufficiency
    (reports/tables/deng_replication.csv): ours on both assays beside Deng et al.'s published ORs."""
    _style()
    rows = table[(table["quantity"] == "effect") & (table["contrast"] == "Q4 vs Q1") & (table["group"] == "all")]
    panels = [(e, o) for e in ("magnesium", "vitamin_d") for o in ("deficiency", "insufficiency")]
    series = [("ria", "ours, radioimmunoassay (the paper's assay)", "#2471a3", "s"),
              ("lcms", "ours, LC-MS/MS-equivalent", "#7fb3d5", "o")]
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    labels, y = [], 0.0
    for exposure, outcome in panels:
        part = rows[(rows["exposure"] == exposure) & (rows["outcome"] == outcome)]
        for offset, (assay, label, color, marker) in enumerate(series):
            r = part[part["assay"] == assay]
            if len(r) and np.isfinite(r["estimate"].iloc[0]):
                r = r.iloc[0]
                ax.errorbar(r["estimate"], y + 0.22 * offset, xerr=[[r["estimate"] - r["ci_low"]], [r["ci_high"] - r["estimate"]]],
                            fmt=marker, color=color, capsize=3, label=label if not labels else None)
        published = part[part["published_or"].notna()]
        if len(published):
            p = published.iloc[0]
            ax.errorbar(p["published_or"], y + 0.44, xerr=[[p["published_or"] - p["published_ci_low"]],
                                                          [p["published_ci_high"] - p["published_or"]]],
                        fmt="D", color="#c0392b", capsize=3, label="Deng et al. 2013 (published)" if not labels else None)
        labels.append((y + 0.22, f"{exposure.replace('_', ' ').replace(' d', ' D')}: {outcome}"))
        y += 1.0
    ax.axvline(1.0, color="black", lw=0.8)
    finite = rows[np.isfinite(rows["ci_low"])]
    ratio_axis(ax, min(finite["ci_low"].min(), rows["published_ci_low"].min()),
               max(finite["ci_high"].max(), rows["published_ci_high"].max()))
    ax.set_yticks([t for t, _ in labels], [lab for _, lab in labels])
    ax.invert_yaxis()
    ax.set_xlabel("Odds ratio, highest vs lowest intake quartile (95% CI, log scale)")
    ax.set_title("Deng et al. 2013 replicated: NHANES 2001-2006, adults 20+")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    return fig


def adequacy(table: pd.DataFrame) -> plt.Figure:
    """Share of usual intake below the EAR (iron: probability approach) by nutrient, everyone
    aged 1 and over (reports/tables/adequacy.csv): foods alone and foods + supplements, with
    95% CIs, one day's recall beside; and by DRI life stage as a grid (foods + supplements,
    foods alone where supplement totals lack the nutrient)."""
    _style()
    below = table[table["measure"] == "below_ear"]
    overall = below[below["group"] == "all"]
    order = (overall[(overall["source"] == "food") & (overall["basis"] == "usual")]
             .sort_values("estimate")["nutrient"].tolist())
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 0.42 * len(order) + 2.4),
                                      gridspec_kw={"width_ratios": [1, 1.6]})
    y = {n: i for i, n in enumerate(order)}
    styles = [("food", "usual", "o", "#2471a3", "usual intake, foods"),
              ("total", "usual", "s", "#c0392b", "usual intake, foods + supplements"),
              ("total", "day1", "x", "#7f8c8d", "one day's recall, foods + supplements (sensitivity)")]
    for source, basis, marker, color, label in styles:
        rows = overall[(overall["source"] == source) & (overall["basis"] == basis) & overall["nutrient"].isin(y)]
        offset = {"food": -0.15, "total": 0.15}[source] + (0.1 if basis == "day1" else 0)
        left.errorbar(100 * rows["estimate"], rows["nutrient"].map(y) + offset, xerr=ci_arms(rows, 100),
                      fmt=marker, color=color, capsize=2, markersize=5, label=label)
    left.set_yticks(range(len(order)), [n.replace("_", " ") for n in order])
    left.set_xlim(0, 100)
    left.set_xlabel("% with usual intake below the EAR (95% CI)")
    left.set_title("Everyone aged 1 and over")
    left.legend(fontsize=8, loc="lower right")
    grid = below[(below["basis"] == "usual") & (below["group_by"] == "life_stage")]
    total = grid[grid["source"] == "total"]
    food_only = grid[(grid["source"] == "food") & ~grid["nutrient"].isin(set(total["nutrient"]))]
    shown = pd.concat([total, food_only])
    shown = shown.assign(estimate=shown["estimate"].where(~shown["reliability"].fillna("").str.startswith("suppressed")))
    cells = shown.pivot_table(index="nutrient", columns="group", values="estimate", dropna=False)
    stages = [s for s in STAGE_ORDER if s in cells.columns]
    cells = cells.reindex(index=order[::-1], columns=stages)
    sns.heatmap(100 * cells, ax=right, cmap="Reds", vmin=0, vmax=100, annot=True, fmt=".0f", annot_kws={"size": 7},
                cbar_kws={"label": "% below the EAR"}, linewidths=0.5)
    right.set_xticklabels([s.replace("_", " ").replace(" plus", "+") for s in stages], rotation=55, ha="right",
                          fontsize=8)
    right.set_yticklabels([n.replace("_", " ") for n in order[::-1]], rotation=0, fontsize=8)
    right.set_xlabel("DRI life-stage group")
    right.set_ylabel("")
    right.set_title("By life stage: foods + supplements (vitamins A, E: foods alone)")
    fig.suptitle("Usual intake below the Estimated Average Requirement (NCI method, day-1 dietary weight)", y=1.0)
    fig.tight_layout()
    return fig


STAGE_ORDER = ["children_1_3", "children_4_8", "males_9_13", "males_14_18", "males_19_30", "males_31_50", "males_51_70",
               "males_71_plus", "females_9_13", "females_14_18", "females_19_30", "females_31_50", "females_51_70",
               "females_71_plus", "pregnancy_14_18", "pregnancy_19_30", "pregnancy_31_50"]
