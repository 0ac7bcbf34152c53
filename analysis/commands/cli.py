"""Command line: one subcommand per pipeline stage (`python -m analysis STAGE --help`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

from analysis.core.errors import AnalysisError


def _params(paths):
    """params.yaml, loaded and checked (an impossible setting stops the stage before any work)."""
    from analysis.core import config

    params = config.load_params(paths.params)
    config.check_params(params, str(paths.params))
    return params

log = logging.getLogger("analysis")


def _fetch(args: argparse.Namespace) -> None:
    from analysis.core import config
    from analysis.data import fetch

    paths = config.Paths(args.root)
    params = _params(paths)
    fetch_params = config.section(params, "fetch")
    mirror = config.resolve_mirror(fetch_params, paths.root)
    fetch.sync(fetch_params, paths.root, mirror, force=args.force)
    config.remember_mirror(paths.root, mirror)


def _clean(args: argparse.Namespace) -> None:
    from analysis.clean import stage as clean
    from analysis.core import config

    paths = config.Paths(args.root)
    clean.run(_params(paths), paths)


def _usual(args: argparse.Namespace) -> None:
    from analysis.core import config
    from analysis.usual import stage

    paths = config.Paths(args.root)
    stage.run(_params(paths), paths)


def _adequacy_stage(args: argparse.Namespace) -> None:
    from analysis.analyses import adequacy
    from analysis.core import config

    paths = config.Paths(args.root)
    adequacy.run(_params(paths), paths)


def _analyze(args: argparse.Namespace) -> None:
    from analysis.claims import stage as analyze
    from analysis.core import config

    paths = config.Paths(args.root)
    analyze.run(_params(paths), paths)


def _risk(args: argparse.Namespace) -> None:
    from analysis.core import config
    from analysis.outputs import risk

    paths = config.Paths(args.root)
    params = _params(paths)
    if args.profile:
        answer = risk.profile(params, paths, args.profile)
        given = [i for i in answer.inputs if i.source == "given"]
        print("person: " + (", ".join(f"{i.name}={i.value:g}" if isinstance(i.value, float) else f"{i.name}={i.value}"
                                      for i in given) or "nothing given"))
        if answer.assumed:
            print("assumed (not given; the risk moves with each, so give any that differ):")
            for i in answer.assumed:
                value = f"{i.value:g}" if isinstance(i.value, (int, float)) else str(i.value)
                print(f"  {i.name} = {value}  ({i.source})")
        for row in answer.table.itertuples():
            print(f"{row.outcome}: predicted risk {100 * row.risk:.1f}% (95% CI {100 * row.ci_low:.1f} to "
                  f"{100 * row.ci_high:.1f}%)  [{row.predictors}; design-based logistic model]")
        return
    risk.run(params, paths)


def _print(result, fmt: str) -> None:
    """An answer (estimate or model) as its table (csv), JSON or text."""
    if fmt == "csv":
        print(result.table.to_csv(index=False), end="")
    elif fmt == "json":
        print(result.json())
    else:
        print(result.text())


def _estimate(args: argparse.Namespace) -> None:
    from analysis.commands import estimate

    result = estimate.estimate(args.statistic, args.column, where=args.where, by=args.by or (), cycles=args.cycles or (),
                               below=args.below, above=args.above, percentiles=args.percentiles or (50,),
                               weight=args.weight, ci=args.ci, root=args.root, age_adjust=args.age_adjust)
    _print(result, args.format)


def _model(args: argparse.Namespace) -> None:
    from analysis.commands import modeling

    result = modeling.fit(args.formula, family=args.family, where=args.where, cycles=args.cycles or (),
                          weight=args.weight, exponentiate=args.exponentiate, root=args.root)
    _print(result, args.format)


def _adequacy(args: argparse.Namespace) -> None:
    from analysis.commands import adequacy

    result = adequacy.adequacy(args.nutrients, by=args.by, cycles=args.cycles or (), where=args.where,
                               source=args.source, root=args.root, day1=not args.no_day1, model=args.model)
    _print(result, args.format)


def _search(args: argparse.Namespace) -> None:
    from analysis.commands import lookup

    table = lookup.search(args.text, root=args.root)
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif not len(table):
        print(f"no variable's name or label matches {args.text!r}")
    else:
        with pd_display():
            print(table.to_string(index=False, max_colwidth=90))


def _describe(args: argparse.Namespace) -> None:
    from analysis.commands import lookup

    print(lookup.describe(args.column, root=args.root).text())


def pd_display():
    import pandas as pd

    return pd.option_context("display.width", 250, "display.max_rows", 500)


def _notebooks(args: argparse.Namespace) -> None:
    from analysis.core import config
    from analysis.outputs import notebooks

    notebooks.run(config.Paths(args.root))


def _report(args: argparse.Namespace) -> None:
    from analysis.core import config
    from analysis.outputs import report

    paths = config.Paths(args.root)
    report.run(_params(paths), paths)


STAGES = {
    "fetch": (_fetch, "Bring the catalogued NHANES files into data_raw/ (CDC or NHANES_MIRROR) and verify them."),
    "clean": (_clean, "Build data_clean/analytic.parquet, its dictionary and the exclusion flow table."),
    "usual": (_usual, "Fit the usual-intake (measurement-error) model; write each person's usual intake and the "
                      "usual-intake distribution."),
    "adequacy-stage": (_adequacy_stage, "Usual intake and the prevalence of inadequacy of every registry nutrient by DRI "
                                  "life stage (reports/tables/adequacy.csv)."),
    "analyze": (_analyze, "Test each claim with design-based models; write reports/tables and reports/claims.csv."),
    "risk": (_risk, "Risk models of low 25(OH)D, PSU-grouped evaluation, risk surface and what-if scenarios."),
    "notebooks": (_notebooks, "Execute the notebooks and export each as HTML into reports/notebooks/."),
    "report": (_report, "Draw the figures and write the report (reports/index.html and its pages) from the tables."),
}
TOOLS = {
    "estimate": (_estimate, "Ask a question: a design-based mean, proportion, percentiles or total of a column, in a "
                            "domain, by groups, with the weight chosen from the variables and NCHS reliability flags."),
    "model": (_model, "Fit a design-based regression from a formula (svy; R svyglm): the weight chosen from the "
                      "variables, domains of the full design, design df; usual-intake terms get replicate SEs "
                      "rerunning both steps."),
    "adequacy": (_adequacy, "Usual intake and the prevalence of inadequacy of any nutrients (registry: "
                            "analysis/data/nutrients.yaml): mean, percentiles, shares below the EAR (iron: probability "
                            "approach), above the AI and the UL, by groups, with replicate SEs rerunning the NCI model."),
    "search": (_search, "Find variables: a case-insensitive regular expression over the names and labels of every "
                        "variable in the downloaded files, the catalog and the analytic table (offline)."),
    "describe": (_describe, "Explain one column of the analytic table: definition, sources, rule, weight, counts and "
                            "missing by cycle, distribution, special codes (offline)."),
}


def _tool(sub, name: str, epilog: str) -> argparse.ArgumentParser:
    """The sub-command `name` of TOOLS, with its help and examples."""
    func, help_text = TOOLS[name]
    tool = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    tool.set_defaults(func=func)
    return tool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="NHANES vitamin D and magnesium: a design-based analysis pipeline (run through `dvc repro`).",
    )
    parser.add_argument("--root", type=Path, default=None,
                        help="the project directory: the clone holding params.yaml and dvc.yaml, where the pipeline "
                             "writes data_clean/ and reports/ (default: the current directory or the nearest one "
                             "above it that holds both)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (func, help_text) in STAGES.items():
        stage = sub.add_parser(name, help=help_text, description=help_text)
        stage.set_defaults(func=func)
        if name == "fetch":
            stage.add_argument("--force", action="store_true",
                               help="hash every file again (normally a file is re-hashed only when its size or "
                                    "modification time changed)")
        if name == "risk":
            stage.add_argument("--profile", nargs="+", metavar="NAME=VALUE",
                               help="print one person's predicted risk instead of running the stage, e.g. "
                                    "age=65 sex=female mg_total_mg=220 vitd_supp_ug=25 (others: the reference adult)")
    tool = _tool(sub, "estimate",
                 "examples:\n  python -m analysis estimate proportion vitd_serum_nmol --below 50 "
                 "--where \"sex == 'female' & age >= 60\" --cycles 2017-2018\n"
                 "  python -m analysis estimate mean mg_total_usual_mg --by sex age_group\n"
                 "  python -m analysis estimate percentiles vitd_serum_nmol --percentiles 10 50 90 --by vitd_supp_user\n"
                 "  python -m analysis estimate proportion vitd_serum_nmol --below 50 --by sex --age-adjust")
    tool.add_argument("statistic", choices=["mean", "proportion", "percentiles", "total"])
    tool.add_argument("column", help="a column of data_clean/analytic.parquet or usual_intake.parquet "
                                     "(data_clean/dictionary.csv), or age_group")
    tool.add_argument("--where", help="the domain, e.g. \"sex == 'female' & age >= 60\" (comparisons joined by & and |)")
    tool.add_argument("--by", nargs="+", metavar="COLUMN", help="one or more grouping columns")
    tool.add_argument("--cycles", nargs="+", metavar="CYCLE", help="restrict to these cycles (weights re-pooled)")
    tool.add_argument("--below", type=float, help="proportion: share below this value")
    tool.add_argument("--above", type=float, help="proportion: share above this value")
    tool.add_argument("--percentiles", type=float, nargs="+", metavar="P", help="percentiles (0-100), default 50")
    tool.add_argument("--weight", help="override the weight chosen from the variables (e.g. wt_mec)")
    tool.add_argument("--ci", choices=["korn-graubard", "logit"], default="korn-graubard",
                      help="proportions' CI method (default korn-graubard, as NCHS)")
    tool.add_argument("--age-adjust", metavar="STANDARD", nargs="?", const="adults_2000",
                      help="mean or proportion: also directly age-standardized, to a standard of params.yaml "
                           "estimate.age_standards (default adults_2000; all_ages_2000) or groups written "
                           "\"20-39:77670,40-59:72816,60-80:45364\"")
    tool.add_argument("--format", choices=["text", "csv", "json"], default="text")
    modeller = _tool(sub, "model", "examples:\n  python -m analysis model \"vitd_serum_nmol ~ vitd_supp_user * mg_adequate "
                                     "+ age + C(sex, contr.treatment('female'))\"\n"
                                     "  python -m analysis model \"vitd_below_50 ~ mg_adequate_usual + age + C(race_eth)\" "
                                     "--family binomial --exponentiate --where \"age >= 20\"")
    modeller.add_argument("formula", help="outcome ~ terms (formulaic syntax: a + b, a:b, a*b, C(column), "
                                          "C(column, contr.treatment('level')))")
    modeller.add_argument("--family", choices=list(("gaussian", "binomial", "quasipoisson")), default=None,
                          help="gaussian (the default for a number outcome), binomial (a true/false outcome: name it), "
                               "quasipoisson. Deaths: the pipeline's Cox models (reports/tables/mortality.csv)")
    modeller.add_argument("--where", help="the domain, as for estimate")
    modeller.add_argument("--cycles", nargs="+", metavar="CYCLE", help="restrict to these cycles (weights re-pooled)")
    modeller.add_argument("--weight", help="override the weight chosen from the variables")
    modeller.add_argument("--exponentiate", action="store_true", help="report odds or rate ratios")
    modeller.add_argument("--format", choices=["text", "csv", "json"], default="text")
    ask = _tool(sub, "adequacy",
                "examples:\n  python -m analysis adequacy --nutrients magnesium vitamin_d\n"
                "  python -m analysis adequacy --nutrients calcium --by sex age_group --where \"age >= 20\" "
                "--source total\n  python -m analysis adequacy --nutrients all --format csv > adequacy.csv")
    ask.add_argument("--nutrients", nargs="+", required=True, metavar="NAME",
                     help="registry names (magnesium, vitamin_d, vitamin_c, folate, iron, ...) or all")
    ask.add_argument("--by", nargs="*", default=["life_stage"], metavar="COLUMN",
                     help="grouping columns, categorical (default: life_stage, the DRI life-stage group); "
                          "--by with no column: everyone together")
    ask.add_argument("--cycles", nargs="+", metavar="CYCLE", help="cycles (default params adequacy.cycles; weights re-pooled)")
    ask.add_argument("--where", help="the domain, as for estimate (ages 1 and over always)")
    ask.add_argument("--source", choices=["food", "total"], default=None, help="food, or food + supplements (default both)")
    ask.add_argument("--no-day1", action="store_true", help="leave out the one-day sensitivity rows")
    ask.add_argument("--model", choices=["auto", "amount", "two_part"], default="auto",
                     help="auto (default): NCI's two-part (episodic) model where more day-1 recalls than params "
                          "adequacy.two_part_above_zero_share hold none, amount-only otherwise")
    ask.add_argument("--format", choices=["text", "csv", "json"], default="text")
    finder = _tool(sub, "search", "examples:\n  python -m analysis search magnesium\n  python -m analysis search '^DR1T'")
    finder.add_argument("text", help="a word or regular expression (case-insensitive)")
    finder.add_argument("--format", choices=["text", "csv"], default="text")
    explain = _tool(sub, "describe", "example:\n  python -m analysis describe mg_total_mg")
    explain.add_argument("column", help="a column of data_clean/dictionary.csv")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        from analysis.survey import design as survey  # noqa: F401 (it quiets svy's INFO lines on import)

        logging.getLogger("svy").setLevel(logging.DEBUG)
    try:
        from analysis.core import config

        args.root = config.project_root(args.root)
        # One BLAS thread: the matrices here are tall and thin, where BLAS threads cost more than
        # they give; the replicate loops use the cores instead (analysis/core/parallel.py).
        with threadpool_limits(1, user_api="blas"):
            args.func(args)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
