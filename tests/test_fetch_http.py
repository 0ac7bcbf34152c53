"""Downloading from a CDC-like web server: a local HTTP server on 127.0.0.1 plays CDC."""

from __future__ import annotations

import http.server
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.data import fetch
from analysis.data.catalog import DataFile
from analysis.core.errors import FetchError
from tests.conftest import write_xpt

HTML = b"<!DOCTYPE html><html><body>Page not found</body></html>"


@pytest.fixture(scope="module")
def valid_xpt(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("xpt") / "DEMO_J.XPT"
    write_xpt(path, pd.DataFrame({"SEQN": [1.0, 2.0, 3.0], "RIAGENDR": [1.0, 2.0, 2.0]}), "DEMO_J")
    return path.read_bytes()


class Server:
    """Routes: /ok/*, /missing/*, /flaky/* (500 then 200), /truncated/*, /html/*, /slow/*."""

    def __init__(self, payload: bytes, slow_seconds: float):
        self.payload = payload
        self.slow_seconds = slow_seconds
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                route = self.path.split("/")[1]
                server.hits[route] = server.hits.get(route, 0) + 1
                if route == "ok":
                    self._send(200, server.payload)
                elif route == "missing":
                    self._send(404, b"not found")
                elif route == "flaky":
                    if server.hits[route] == 1:
                        self._send(500, b"server error")
                    else:
                        self._send(200, server.payload)
                elif route == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.payload)))
                    self.end_headers()
                    self.wfile.write(server.payload[: len(server.payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif route == "html":
                    self._send(200, HTML)
                elif route == "slow":
                    time.sleep(server.slow_seconds)
                    self._send(200, server.payload)
                else:
                    self._send(404, b"")

            def _send(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.port}/{route}/{{file}}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up and hung up (the timeout tests' purpose) is not an error; any other is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server(valid_xpt):
    srv = Server(valid_xpt, slow_seconds=1.5)
    yield srv
    srv.close()


ITEM = DataFile(cycle="2017-2018", component="DEMO", name="DEMO_J.XPT", year=2017)


def source_for(server: Server, *routes: str, lock=None, retries: int = 2) -> fetch.CdcSource:
    return fetch.CdcSource([server.url(r) for r in routes], lock=lock or {}, timeout=0.5,
                           retries=retries, backoff=0.0, sleep=lambda s: None)


def run_fetch(source, tmp_path: Path) -> pd.DataFrame:
    return fetch.fetch_all(source, [ITEM], [], tmp_path / "data_raw", now=lambda: "T")


def leftovers(tmp_path: Path) -> list[str]:
    folder = tmp_path / "data_raw" / "2017-2018"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_valid_file_is_fetched_verified_against_lock(server, valid_xpt, tmp_path):
    lock = {("2017-2018", "DEMO_J.XPT"): fetch.hashlib.sha256(valid_xpt).hexdigest()}
    manifest = run_fetch(source_for(server, "ok", lock=lock), tmp_path)
    row = manifest.iloc[0]
    assert row["status"] == fetch.VERIFIED
    assert int(row["rows"]) == 3 and int(row["bytes"]) == len(valid_xpt)
    assert row["source"].endswith("/ok/DEMO_J.XPT")
    assert (tmp_path / "data_raw/2017-2018/DEMO_J.XPT").read_bytes() == valid_xpt
    assert leftovers(tmp_path) == ["DEMO_J.XPT"]


def test_file_without_lock_entry_is_recorded_with_its_hash(server, valid_xpt, tmp_path):
    manifest = run_fetch(source_for(server, "ok"), tmp_path)
    assert manifest.iloc[0]["status"] == fetch.RECORDED
    assert manifest.iloc[0]["sha256"] == fetch.hashlib.sha256(valid_xpt).hexdigest()


def test_lock_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    lock = {("2017-2018", "DEMO_J.XPT"): "0" * 64}
    with pytest.raises(FetchError, match=r"2017-2018/DEMO_J.XPT: sha256 .* does not match"):
        run_fetch(source_for(server, "ok", lock=lock), tmp_path)
    assert leftovers(tmp_path) == []


def test_404_is_not_retried_and_recorded_absent(server, tmp_path):
    manifest = run_fetch(source_for(server, "missing"), tmp_path)
    assert server.hits["missing"] == 1
    row = manifest.iloc[0]
    assert row["status"] == fetch.ABSENT_AT_SOURCE
    assert "HTTP 404" in row["provenance"] and "DEMO_J.XPT" in row["provenance"]
    assert leftovers(tmp_path) == []


def test_download_raises_not_found_on_404(server, tmp_path):
    dest = tmp_path / "x.XPT"
    with pytest.raises(fetch.NotFoundAtSource, match="HTTP 404"):
        fetch.download(server.url("missing").format(file="DEMO_J.XPT"), dest, 0.5, 3, 0.0, lambda s: None)
    assert not dest.exists()
    assert server.hits["missing"] == 1


def test_500_then_200_is_retried_and_succeeds(server, valid_xpt, tmp_path):
    manifest = run_fetch(source_for(server, "flaky"), tmp_path)
    assert server.hits["flaky"] == 2
    assert manifest.iloc[0]["status"] == fetch.RECORDED
    assert (tmp_path / "data_raw/2017-2018/DEMO_J.XPT").read_bytes() == valid_xpt


def test_truncated_body_is_an_error_naming_the_file(server, tmp_path):
    with pytest.raises(FetchError, match=r"truncated/DEMO_J.XPT: gave up after 3 attempts.*bytes"):
        run_fetch(source_for(server, "truncated"), tmp_path)
    assert server.hits["truncated"] == 3
    assert leftovers(tmp_path) == []


def test_html_page_with_status_200_is_rejected(server, tmp_path):
    with pytest.raises(FetchError, match=r"DEMO_J.XPT.*HTML page, not a SAS transport file"):
        run_fetch(source_for(server, "html"), tmp_path)
    assert leftovers(tmp_path) == []


def test_html_at_current_url_falls_back_to_legacy_url(server, valid_xpt, tmp_path):
    manifest = run_fetch(source_for(server, "html", "ok"), tmp_path)
    assert manifest.iloc[0]["source"].endswith("/ok/DEMO_J.XPT")
    assert server.hits["html"] == 1


def test_slow_response_times_out_with_clear_error(server, tmp_path):
    with pytest.raises(FetchError, match=r"slow/DEMO_J.XPT: gave up after 2 attempts; last error: timed out"):
        run_fetch(source_for(server, "slow", retries=1), tmp_path)
    assert leftovers(tmp_path) == []


def test_rerun_skips_verified_file(server, tmp_path):
    source = source_for(server, "ok")
    first = run_fetch(source, tmp_path)
    second = fetch.fetch_all(source, [ITEM], [], tmp_path / "data_raw", now=lambda: "LATER")
    assert server.hits["ok"] == 1
    assert second.iloc[0]["retrieved_at"] == first.iloc[0]["retrieved_at"] == "T"


def test_corrupted_local_copy_is_fetched_again(server, valid_xpt, tmp_path):
    source = source_for(server, "ok")
    run_fetch(source, tmp_path)
    (tmp_path / "data_raw/2017-2018/DEMO_J.XPT").write_bytes(b"garbage")
    run_fetch(source, tmp_path)
    assert server.hits["ok"] == 2
    assert (tmp_path / "data_raw/2017-2018/DEMO_J.XPT").read_bytes() == valid_xpt


def test_url_templates_follow_cdc_layouts():
    source = fetch.CdcSource(
        ["https://wwwn.cdc.gov/Nchs/Data/Nhanes/Public/{year}/DataFiles/{file_lower_ext}",
         "https://wwwn.cdc.gov/Nchs/Nhanes/{cycle}/{file}"], lock={})
    assert source.urls(ITEM) == [
        "https://wwwn.cdc.gov/Nchs/Data/Nhanes/Public/2017/DataFiles/DEMO_J.xpt",
        "https://wwwn.cdc.gov/Nchs/Nhanes/2017-2018/DEMO_J.XPT",
    ]
