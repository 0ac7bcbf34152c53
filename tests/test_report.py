"""The report: a verdict row per claim, every figure present and embedded, well-formed HTML,
figures drawn from the tables, and byte-identical reruns."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.claims import registry as claims
from analysis.outputs import figures, report
from tests.conftest import SYNTHETIC_MIRROR, _run_stages, report_pages, whole_report

pytestmark = pytest.mark.mirror

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Checker(HTMLParser):
    """Collects problems with tag nesting, the verdict rows and the images."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.claim_rows: list[str] = []
        self.images: list[str] = []
        self.banner = ""
        self._in_banner = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-claim" in attrs:
            self.claim_rows.append(attrs["data-claim"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if attrs.get("id") == "provenance-banner":
            self._in_banner = 1
        elif self._in_banner:
            self._in_banner += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if self._in_banner:
            self._in_banner -= 1

    def handle_data(self, data):
        if self._in_banner:
            self.banner += data


@pytest.fixture(scope="module")
def reported(analyzed_project) -> Path:
    _run_stages(analyzed_project, SYNTHETIC_MIRROR, ["risk", "report"])
    return analyzed_project


def parse(path: Path) -> Checker:
    checker = Checker()
    checker.feed(path.read_text(encoding="utf-8"))
    checker.close()
    return checker


def test_html_is_well_formed_with_a_verdict_per_claim(reported):
    for name in report_pages(reported):
        page = parse(reported / "reports" / name)
        assert page.problems == [] and page.stack == [], name
    assert parse(reported / "reports/index.html").claim_rows == list(claims.registry())
    text = (reported / "reports/index.html").read_text(encoding="utf-8")
    for verdict in pd.read_csv(reported / "reports/claims.csv")["verdict"]:
        assert verdict in claims.VERDICTS and verdict in text


def test_synthetic_run_says_so_on_every_page(reported):
    for name in report_pages(reported):
        page = parse(reported / "reports" / name)
        assert "SYNTHETIC DATA" in page.banner and "NOT findings about the US population" in page.banner, name


def test_every_figure_exists_and_is_embedded(reported):
    images = [src for name in report_pages(reported) for src in parse(reported / "reports" / name).images]
    for name in [*report.FIGURES, *report.RISK_FIGURES]:
        png = reported / "reports/figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert report.embed(png) in images, name
    # each figure once, and the main one again on the front page
    assert len(images) == len(report.FIGURES) + len(report.RISK_FIGURES) + 1


def test_the_front_page_is_short_with_the_claim_table_first(reported):
    """A reviewer's first screen: the verdicts before anything else, one figure, no long tables."""
    import re

    page = (reported / "reports/index.html").read_text(encoding="utf-8")
    tables = re.findall(r"<table[^>]*>", page)
    assert tables[0] == '<table id="verdict-table">' and len(tables) == 1
    assert page.count("<img ") == 1 and page.count("<figure") == 1
    text = re.sub(r'src="data:[^"]+"', "", page)
    assert len(re.sub(r"<[^>]+>", "", text)) < 12000  # words, not data
    assert page.index('id="verdict-table"') < page.index("<figure")
    for name, _ in report.PAGES[1:]:
        assert f'href="{name}' in page  # every page reachable from the front page


def test_every_link_inside_the_report_finds_its_section(reported):
    import re

    pages = report_pages(reported)
    ids = {name: set(re.findall(r'id="([^"]+)"', text)) for name, text in pages.items()}
    for name, text in pages.items():
        for target, anchor in re.findall(r'href="([a-z_]*\.html)?#([^"]+)"', text):
            assert anchor in ids[target or name], f"{name}: link to {target}#{anchor} finds no section"


def test_links_move_with_their_sections():
    pages = report.link_pages({"a.html": '<p id="x"></p><a href="#y">y</a><a href="#x">x</a><a href="#z">z</a>',
                               "b.html": '<h2 id="y"></h2>'})
    assert 'href="b.html#y"' in pages["a.html"] and 'href="#x"' in pages["a.html"]
    assert 'href="#z"' in pages["a.html"]  # no section anywhere: left as written (the link test catches it)


def test_forest_plot_draws_the_sensitivity_table(reported):
    table = pd.read_csv(reported / "reports/tables/sensitivity.csv")
    fig = figures.forest(table)
    drawn = sorted(np.concatenate([c.lines[0].get_xdata() for c in fig.axes[0].containers]))
    plt.close(fig)
    expected = table[table["term"].str.contains(r" effect \| ") & (table["analysis"] != "log_25ohd")]["estimate"]
    np.testing.assert_allclose(drawn, sorted(expected))


def test_bone_plot_draws_the_bone_table(reported):
    table = pd.read_csv(reported / "reports/tables/bone_or.csv")
    fig = figures.bone(table, 0.75)
    drawn = np.asarray(fig.axes[0].containers[0].lines[0].get_xdata(), dtype=float)
    plt.close(fig)
    np.testing.assert_allclose(drawn, table[table["term"].str.startswith("OR ")]["estimate"].to_numpy(dtype=float))


def digest(root: Path) -> dict[str, str]:
    files = sorted(p for p in (root / "reports").rglob("*") if p.is_file()) + \
        [root / "data_clean" / name for name in ("analytic.parquet", "usual_intake.parquet", "usual_model.json")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.slow
def test_reruns_are_byte_identical(reported):
    """About 45 s: the stages from clean to report run again on the same inputs."""
    before = digest(reported)
    _run_stages(reported, SYNTHETIC_MIRROR, ["clean", "usual", "analyze", "risk", "report"])
    assert digest(reported) == before


def test_strobe_checklist_links_to_sections_that_exist(reported):
    import re

    page = (reported / "reports/methods.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', whole_report(reported)))
    rows = re.findall(r'<tr data-strobe="([^"]+)">(.*?)</tr>', page, flags=re.S)
    assert [item for item, _ in rows][:3] == ["1", "2", "3"] and rows[-1][0] == "22"
    for item, cells in rows:
        links = re.findall(r'href="(?:[a-z_]+\.html)?#([^"]+)"', cells)
        assert links or "Not applicable" in cells, f"STROBE item {item}: neither a section nor a reason"
        assert set(links) <= ids, f"STROBE item {item} links to missing sections {set(links) - ids}"
    assert "E-value" in whole_report(reported) and 'id="missing-data"' in whole_report(reported)


def test_banner_lists_what_the_run_used_and_only_real_gaps():
    import pandas as pd

    from analysis.outputs.report import banner, cycle_span

    assert cycle_span(["2009-2010", "2007-2008", "2015-2016", "2017-2018"]) == "2007-2010, 2015-2018"
    manifest = pd.DataFrame([
        ("2007-2008", "CRP", "verified"), ("2009-2010", "CRP", "verified"), ("2011-2012", "CRP", "absent in cycle"),
        ("2015-2016", "HSCRP", "verified"), ("2007-2008", "HSCRP", "absent in cycle"),
        ("2011-2012", "OSQ", "absent from this mirror"), ("2007-2008", "OSQ", "verified"),
    ], columns=["cycle", "component", "status"]).assign(provenance="genuine CDC file (public copy, verified)")
    claims = pd.DataFrame({"claim_id": ["C4", "C10"], "verdict": ["inconclusive", "supported"]})
    b = banner(manifest, claims)
    assert b["used"] == ["2007-2010: CRP", "2007-2008: OSQ", "2015-2016: HSCRP"]  # one line per span, widest first
    assert b["missing"] == ["OSQ 2011-2012 (absent from this mirror)"]  # CDC never published CRP 2011-2012: no gap
    assert b["not_testable"] == [] and b["cycles"] == "2007-2010, 2015-2016" and not b["synthetic"]
    lacking = claims.assign(verdict=["not testable with the files at hand", "supported"])
    assert banner(manifest, lacking)["not_testable"] == ["C4"]


def test_cells_are_formatted_as_what_they_are():
    import pandas as pd

    from analysis.outputs.report import fmt_p, table_html

    assert fmt_p(2.4e-10) == "< 0.001" and fmt_p(0.0123) == "0.012" and fmt_p(float("nan")) == ""
    row = pd.DataFrame({"n": [7.0], "n_remaining": [6000.0], "df": [92.0], "p_value": [0.0004], "estimate": [0.61579]})
    html = table_html(row, ["n", "n_remaining", "df", "p_value", "estimate"])
    assert "<td>7</td>" in html and "<td>6,000</td>" in html and "<td>92</td>" in html
    assert "<td>&lt; 0.001</td>" in html and "<td>0.616</td>" in html


def test_figures_say_what_they_show():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from analysis.outputs import figures

    fig, ax = plt.subplots()
    ax.plot([0.4, 2.5], [0, 1])
    figures.ratio_axis(ax, 0.4, 2.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "0.7", "1", "1.5", "2", "3"]  # ratios, not 10^0
    percentiles = pd.DataFrame({"term": "difference", "group": ["all", "all"], "percentile": [10, 90],
                                "estimate": [9.6, 13.1], "ci_low": [8.6, 10.8], "ci_high": [10.7, 15.4]})
    ylabel = figures.vitd_percentiles(percentiles).axes[0].get_ylabel()
    assert ylabel.startswith("25(OH)D difference") and "adequate minus inadequate" in ylabel
    effects = pd.DataFrame({"model": ["supp_use_x_mg_supp_use"] * 2, "term": ["a", "b"], "quantity": "effect",
                            "group": ["mg_supp_user = 0", "mg_supp_user = 1"], "estimate": [22.8, 17.1],
                            "ci_low": [20.5, 12.2], "ci_high": [25.1, 21.9]})
    ax = figures.supplement_models(effects).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no magnesium supplement", "magnesium supplement"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vitamin D supplement use"] * 2
    plt.close("all")


def test_every_figure_has_a_caption_saying_population_and_weight():
    from analysis.outputs.report import CAPTIONS, FIGURES, RISK_FIGURES

    assert set(CAPTIONS) == set(FIGURES) | set(RISK_FIGURES)
    for name, caption in CAPTIONS.items():
        if name in ("exclusion_flow", "calibration"):
            continue
        assert "weight" in caption and ("adults" in caption.lower() or "women" in caption.lower()
                                        or "everyone" in caption.lower()), name


def test_exclusion_flow_stays_about_a_screen_wide():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from analysis.outputs import figures

    steps = pd.DataFrame([(flow, step, f"step {step}", 1000 - 100 * step, 100 * (step > 0))
                          for flow in ["main", "supplements", "aac", "crp", "mortality", "bone"] for step in range(8)],
                         columns=["flow", "step", "criterion", "n_remaining", "n_excluded"])
    fig = figures.flow(steps)
    width, _ = fig.get_size_inches()
    assert width <= 12.5 and sum(ax.get_visible() for ax in fig.axes) == 6
    assert min(t.get_fontsize() for ax in fig.axes for t in ax.get_yticklabels()) >= 9
    plt.close("all")
