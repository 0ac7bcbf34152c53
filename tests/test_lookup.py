"""`search` and `describe` on a project built from the synthetic mirror (offline, from data_raw/
and data_clean/), and their clear errors."""

from __future__ import annotations

import pytest

from analysis.commands import lookup
from analysis.commands.cli import main
from analysis.core.errors import ConfigError

pytestmark = pytest.mark.mirror


def test_search_magnesium_lists_cdc_and_derived_variables(mirror_project):
    table = lookup.search("magnesium", mirror_project)
    names = set(table["name"])
    assert {"DR1TMAGN", "DS1TMAGN", "DSQTMAGN"} <= names  # in the files (labels or the catalog's description)
    assert {"mg_food_mg", "mg_total_mg", "mg_adequate", "mg_adequate_usual"} <= names  # analytic columns
    assert set(table["where"]) >= {"analytic table"} and table["where"].str.startswith("files").any()


def test_search_is_a_case_insensitive_regex(mirror_project):
    table = lookup.search("^dr1tm", mirror_project)
    assert set(table["name"]) == {"DR1TMAGN"}
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        lookup.search("(", mirror_project)


def test_describe_names_sources_rule_weight_and_counts(mirror_project):
    text = lookup.describe("mg_total_mg", mirror_project).text()
    assert "source: DR1TMAGN, DS1TMAGN" in text and "rule: mg_food_mg + mg_supp_mg" in text
    assert "weight for estimates: wt_day1" in text and "2017-2018" in text and "median" in text
    smoking = lookup.describe("smoking", mirror_project).text()
    assert "SMQ020: 7, 9 read as missing" in smoking and "never" in smoking
    raw = lookup.describe("DR1TMAGN", mirror_project).text()
    assert "a CDC variable" in raw and "mg_food_mg" in raw


def test_the_commands_answer_misuse_with_a_message(mirror_project, capsys):
    assert main(["--root", str(mirror_project), "describe", "no_such_column"]) == 2
    assert "unknown column 'no_such_column'" in capsys.readouterr().err
    assert main(["--root", str(mirror_project), "search", "["]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err
    assert main(["--root", str(mirror_project), "search", "zzzz_nothing"]) == 0
    assert "no variable" in capsys.readouterr().out
