"""NCHS's linked mortality files: the fixed-width reader on constructed lines (CRLF and LF,
zero-padded SEQN, "." and blank fields, lines that stop early), its errors, the catalog's
file names, and a download of one from a CDC-like server on 127.0.0.1."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from analysis.data import fetch, fixed_width, raw
from analysis.data.catalog import load_catalog
from analysis.core.errors import DataError
from tests.test_fetch_http import Server

LAYOUT = load_catalog().components["MORT"].layout


def line(seqn: str, elig: str, mort: str, ucod: str, diab: str, hyp: str, int_: str, exm: str) -> str:
    """One record laid out at NCHS's column positions (1-based, inclusive)."""
    chars = [" "] * 48
    for text, (first, _) in zip([seqn, elig, mort, ucod, diab, hyp, int_, exm], LAYOUT.values()):
        chars[first - 1:first - 1 + len(text)] = list(text)
    return "".join(chars).rstrip()


LINES = [
    line("93703", "2", ".", "", ".", ".", ".", "."),            # under 18: not linked, all missing
    line("093704", "1", "0", "", ".", ".", "27", "26"),         # zero-padded SEQN (2017-2018 files), alive
    line("93705", "1", "1", "005", "0", "1", "146", "145"),     # died of cerebrovascular disease
    line("93706", "3", ".", "", ".", ".", ".", "."),            # too little identifying data
    line("93707", "1", "0", "", ".", ".", "43", ""),            # line ends before PERMTH_EXM
]


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_reads_constructed_lines(tmp_path, ending):
    path = tmp_path / "NHANES_2017_2018_MORT_2019_PUBLIC.dat"
    path.write_bytes((ending.join(LINES) + ending).encode("ascii"))
    frame = fixed_width.read_fixed_width(path, LAYOUT)
    assert list(frame["SEQN"]) == [93703, 93704, 93705, 93706, 93707]
    assert list(frame["ELIGSTAT"]) == [2, 1, 1, 3, 1]
    assert frame.loc[2, "UCOD_LEADING"] == 5 and frame.loc[2, "PERMTH_INT"] == 146 and frame.loc[2, "PERMTH_EXM"] == 145
    assert np.isnan(frame.loc[0, "MORTSTAT"]) and np.isnan(frame.loc[0, "PERMTH_EXM"])  # "."
    assert np.isnan(frame.loc[1, "UCOD_LEADING"])  # blank
    assert frame.loc[4, "PERMTH_INT"] == 43 and np.isnan(frame.loc[4, "PERMTH_EXM"])  # short line
    assert fixed_width.shape(path, LAYOUT) == (5, 8)


def test_raw_reader_harmonizes_a_mortality_file(tmp_path):
    path = tmp_path / "m.dat"
    path.write_text("\r\n".join(LINES) + "\r\n", encoding="ascii", newline="")
    frame = raw.read_component(path, load_catalog(), "2017-2018", "MORT", 1e-30)
    assert set(frame.columns) == set(LAYOUT) and frame["SEQN"].is_unique


def test_a_value_that_is_not_a_number_names_file_line_and_variable(tmp_path):
    path = tmp_path / "bad.dat"
    broken = LINES[:2] + [LINES[2][:15] + "X" + LINES[2][16:]]
    path.write_text("\n".join(broken), encoding="ascii")
    with pytest.raises(DataError, match=r"bad\.dat: line 3, variable MORTSTAT \(columns 16-16\): 'X'"):
        fixed_width.read_fixed_width(path, LAYOUT)


def test_an_html_page_or_empty_file_is_rejected(tmp_path):
    page = tmp_path / "page.dat"
    page.write_text("<!DOCTYPE html><html>Not found</html>")
    with pytest.raises(DataError, match="HTML page"):
        fixed_width.check_header(page)
    empty = tmp_path / "empty.dat"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        fixed_width.read_fixed_width(empty, LAYOUT)


def test_catalog_names_nchs_files_and_their_download_area():
    catalog = load_catalog()
    item = catalog.data_file("2007-2008", "MORT")
    assert item.name == "NHANES_2007_2008_MORT_2019_PUBLIC.dat" and item.source == "linked_mortality"
    source = fetch.CdcSource(["https://wwwn.cdc.gov/Nchs/Nhanes/{cycle}/{file}"], lock={},
                             source_urls={"linked_mortality": [
                                 "https://ftp.cdc.gov/pub/Health_Statistics/NCHS/datalinkage/linked_mortality/{file}"]})
    assert source.urls(item) == ["https://ftp.cdc.gov/pub/Health_Statistics/NCHS/datalinkage/linked_mortality/"
                                 "NHANES_2007_2008_MORT_2019_PUBLIC.dat"]
    with pytest.raises(fetch.FetchError, match="fetch.source_urls has no 'linked_mortality' entry"):
        fetch.CdcSource(["https://x/{file}"], lock={}).urls(item)


def test_download_from_a_cdc_like_server_checks_text_rows_and_lock(tmp_path):
    payload = ("\r\n".join(LINES) + "\r\n").encode("ascii")
    server = Server(payload, slow_seconds=0.1)
    try:
        item = load_catalog().data_file("2017-2018", "MORT")
        lock = {("2017-2018", item.name): hashlib.sha256(payload).hexdigest()}
        source = fetch.CdcSource([server.url("missing")], lock=lock, timeout=2, retries=0, backoff=0,
                                 sleep=lambda s: None, source_urls={"linked_mortality": [server.url("ok")]})
        manifest = fetch.fetch_all(source, [item], [], tmp_path / "data_raw", now=lambda: "T")
        row = manifest.iloc[0]
        assert (row["status"], row["rows"], row["cols"]) == ("verified", "5", "8")
        assert (tmp_path / "data_raw/2017-2018" / item.name).read_bytes() == payload
        # an HTML error page served with status 200 is not accepted as the file
        html_source = fetch.CdcSource([server.url("missing")], lock={}, timeout=2, retries=0, backoff=0, sleep=lambda s: None,
                                      source_urls={"linked_mortality": [server.url("html")]})
        with pytest.raises(fetch.FetchError, match="HTML page"):
            fetch.fetch_all(html_source, [item], [], tmp_path / "other", now=lambda: "T")
        assert not (tmp_path / "other/2017-2018" / item.name).exists()
    finally:
        server.close()
