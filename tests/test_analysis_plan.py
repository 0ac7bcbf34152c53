"""The analyze stage is a loop over declared analyses (analysis/analyses/plan.py): the
declarations agree with each other, with the claims registry and with dvc.yaml, and an
analysis sees another's columns only when they are declared exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.analyses import plan
from analysis.analyses.common import Context, Result
from analysis.claims import registry as claims
from analysis.claims import stage
from analysis.core.config import Paths, load_params
from tests.conftest import REPO


def test_every_used_result_is_produced_by_an_earlier_analysis():
    produced: set[str] = set()
    for analysis in plan.ANALYSES:
        missing = set(analysis.uses) - produced
        assert not missing, f"{analysis.produces} uses {missing} before any analysis produces it"
        if analysis.unless is not None:
            assert analysis.unless in produced, f"{analysis.produces}: 'unless {analysis.unless}' names no earlier result"
        produced |= set(analysis.produces)


def test_every_analysis_needs_a_known_claim_or_other_need():
    known = set(claims.registry()) | set(plan.OTHER_NEEDS) | {f"{cid}_fallback" for cid, c in claims.registry().items()
                                                               if c.fallback_needs}
    for analysis in plan.ANALYSES:
        assert analysis.needs in known, f"{analysis.produces}: needs {analysis.needs!r}, which nothing defines"


def test_every_claim_with_a_test_has_an_analysis_producing_its_result():
    params = load_params(REPO / "params.yaml")
    produced = {key for a in plan.ANALYSES for key in a.produces}
    for cid in claims.registry():
        if params["verdicts"][cid]["rule"] in ("not_testable", "fact_check"):
            continue
        assert cid in produced or f"{cid}_day1" in produced, f"{cid}: no declared analysis produces its result"


def test_the_stage_writes_exactly_the_tables_dvc_yaml_lists():
    outs = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["analyze"]["outs"]
    listed = {str(o if isinstance(o, str) else next(iter(o))) for o in outs}
    tables = {p.split("/")[-1].removesuffix(".csv") for p in listed if p.startswith("reports/tables/")}
    assert tables == set(stage.TABLES)


class Inventory:
    manifest = pd.DataFrame({"component": ["DEMO"], "cycle": ["2017-2018"], "status": ["verified"],
                             "file": ["DEMO_J.XPT"], "provenance": [""]})

    @staticmethod
    def available(cycle, component):
        return True


def small_context() -> Context:
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame({"seqn": np.arange(n), "cycle": "2017-2018", "kcal": rng.normal(2000, 300, n),
                          "sdmvstra": np.repeat([1, 2], n // 2), "sdmvpsu": np.tile([1, 2], n // 2),
                          "x": rng.normal(size=n)})
    return Context(frame, load_params(REPO / "params.yaml"))


def run_plan(monkeypatch, tmp_path, analyses: list[plan.Analysis]) -> tuple[dict[str, Result], Context]:
    monkeypatch.setattr(plan, "ANALYSES", analyses)
    ctx = small_context()
    paths = Paths(tmp_path)
    results = stage.run_analyses(ctx, {"published"}, paths, stage.Availability(Inventory()))
    return results, ctx


def test_a_column_one_analysis_adds_does_not_reach_the_next(monkeypatch, tmp_path):
    seen = {}

    def first(inputs):
        inputs.ctx.frame["x"] = 0.0  # overwrite a shared column ...
        inputs.ctx.add_domain("in_first", inputs.ctx.frame["x"] == 0)  # ... and add a domain
        return Result()

    def second(inputs):
        seen["columns"] = set(inputs.ctx.frame.columns)
        seen["x"] = inputs.ctx.frame["x"].copy()
        return Result()

    _, ctx = run_plan(monkeypatch, tmp_path, [plan.Analysis(("a",), "published", first),
                                              plan.Analysis(("b",), "published", second)])
    assert "in_first" not in seen["columns"]
    assert seen["x"].abs().sum() > 0  # the first analysis's overwrite stayed in its own copy
    assert "in_first" not in ctx.frame


def test_declared_exports_reach_later_analyses(monkeypatch, tmp_path):
    seen = {}

    def first(inputs):
        inputs.ctx.add_domain("in_first", inputs.ctx.frame["x"] > 0)
        return Result(evidence=[])

    def second(inputs):
        seen["domain"] = inputs.ctx.frame["in_first"].copy()
        seen["result"] = inputs.results["a"]
        return Result()

    results, ctx = run_plan(monkeypatch, tmp_path, [plan.Analysis(("a",), "published", first, exports=("in_first",)),
                                                    plan.Analysis(("b",), "published", second, uses=("a",))])
    assert seen["domain"].equals(ctx.frame["x"] > 0)
    assert seen["result"] is results["a"]


def test_an_analysis_that_needs_missing_components_or_the_usual_model_does_not_run(monkeypatch, tmp_path):
    ran = []
    analyses = [plan.Analysis(("a",), "C1", lambda i: ran.append("a") or Result()),
                plan.Analysis(("b",), "published", lambda i: ran.append("b") or Result(), usual=True),
                plan.Analysis(("c",), "published", lambda i: ran.append("c") or Result())]
    results, _ = run_plan(monkeypatch, tmp_path, analyses)  # testable: {"published"}; no usual model
    assert ran == ["c"] and set(results) == {"c"}


def test_an_undeclared_result_is_an_error(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="undeclared results"):
        run_plan(monkeypatch, tmp_path, [plan.Analysis(("a",), "published", lambda i: {"b": Result()})])


def test_dvc_metrics_are_one_file_per_claim_and_one_of_sample_sizes():
    metrics = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["analyze"]["metrics"]
    listed = {next(iter(m)) if isinstance(m, dict) else m for m in metrics}
    assert listed == {f"reports/metrics/{cid}.json" for cid in claims.registry()} | {"reports/metrics/sample.json"}
