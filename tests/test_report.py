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
from tests.conftest import SYNTHETIC_MIRROR, _run_stages

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
    page = parse(reported / "reports/index.html")
    assert page.problems == [] and page.stack == []
    assert page.claim_rows == list(claims.registry())
    text = (reported / "reports/index.html").read_text(encoding="utf-8")
    for verdict in pd.read_csv(reported / "reports/claims.csv")["verdict"]:
        assert verdict in claims.VERDICTS and verdict in text


def test_synthetic_run_says_so_in_the_banner(reported):
    page = parse(reported / "reports/index.html")
    assert "SYNTHETIC DATA" in page.banner and "NOT findings about the US population" in page.banner


def test_every_figure_exists_and_is_embedded(reported):
    page = parse(reported / "reports/index.html")
    assert len(page.images) == len(report.FIGURES) + len(report.RISK_FIGURES)
    for name in [*report.FIGURES, *report.RISK_FIGURES]:
        png = reported / "reports/figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert report.embed(png) in page.images


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

    page = (reported / "reports/index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', page))
    rows = re.findall(r'<tr data-strobe="([^"]+)">(.*?)</tr>', page, flags=re.S)
    assert [item for item, _ in rows][:3] == ["1", "2", "3"] and rows[-1][0] == "22"
    for item, cells in rows:
        links = re.findall(r'href="#([^"]+)"', cells)
        assert links or "Not applicable" in cells, f"STROBE item {item}: neither a section nor a reason"
        assert set(links) <= ids, f"STROBE item {item} links to missing sections {set(links) - ids}"
    assert "E-value" in page and 'id="missing-data"' in page
