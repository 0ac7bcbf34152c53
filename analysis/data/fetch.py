"""Bring NHANES XPT files into data_raw/ from CDC or a local mirror, and prove they are intact.

Every file is written to a temporary name and renamed only after its checks pass (SAS
transport header, byte count, sha256, row count), so data_raw/ never holds a partial file.
data_raw/MANIFEST.tsv records what was fetched, from where, and its hashes; files already
present and verified are not fetched again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import http.client
import logging
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from analysis.core import atomic
from analysis.data.catalog import DataFile, load_catalog
from analysis.core.errors import DataError, FetchError

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "cycle", "file", "component", "status", "bytes", "sha256", "rows", "cols",
    "source", "provenance", "retrieved_at",
]
# status values
VERIFIED = "verified"  # sha256 matched the mirror manifest or the lock file
RECORDED = "recorded"  # no reference hash known: header, length and rows checked, hash recorded
ABSENT_IN_CYCLE = "absent in cycle"  # CDC never published this component for this cycle
ABSENT_AT_SOURCE = "absent at source"  # CDC answered 404
ABSENT_FROM_MIRROR = "absent from this mirror"  # CDC publishes it; the mirror in use does not hold it

CHUNK = 1 << 16


class NotFoundAtSource(FetchError):
    """The source does not have the file (HTTP 404, or not in the mirror)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- sources


@dataclass
class Retrieved:
    source: str  # URL or mirror path
    provenance: str
    expected_sha256: str | None


class MirrorSource:
    """A directory laid out as <mirror>/<cycle>/<FILE>.XPT with MANIFEST.tsv."""

    absent_status = ABSENT_FROM_MIRROR

    def __init__(self, root: Path):
        self.root = root
        manifest = root / "MANIFEST.tsv"
        if not manifest.exists():
            raise FetchError(f"{manifest}: the mirror has no MANIFEST.tsv, so its files cannot be verified")
        columns, rows = read_tsv(manifest)
        missing = {"cycle", "file", "rows", "sha256"} - set(columns)
        if missing:
            raise FetchError(f"{manifest}: missing column(s) {sorted(missing)}")
        self.entries = {(r["cycle"], r["file"]): r for r in rows}
        self.manifest_path = manifest

    def describe(self) -> str:
        return f"mirror {self.root}"

    def retrieve(self, item: DataFile, dest: Path) -> Retrieved:
        path = self.root / item.cycle / item.name
        if not path.exists():
            raise NotFoundAtSource(f"{item.relpath}: not in this mirror")
        entry = self.entries.get((item.cycle, item.name))
        if entry is None:
            raise FetchError(f"{path}: present in the mirror but not listed in {self.manifest_path}")
        shutil.copyfile(path, dest)
        return Retrieved(
            source=str(path),
            provenance=entry.get("provenance", ""),
            expected_sha256=entry["sha256"] or None,
        )

    def expected_rows(self, item: DataFile) -> int | None:
        entry = self.entries.get((item.cycle, item.name))
        return int(entry["rows"]) if entry and entry["rows"] else None

    def expected_sha256(self, item: DataFile) -> str | None:
        entry = self.entries.get((item.cycle, item.name))
        return entry["sha256"] if entry else None


class CdcSource:
    """CDC's web server: tries each URL template in turn (current layout first). The survey
    files use `url_templates`; files CDC publishes elsewhere (NCHS's linked mortality files)
    use `source_urls[item.source]`."""

    absent_status = ABSENT_AT_SOURCE

    def __init__(
        self,
        url_templates: list[str],
        lock: dict[tuple[str, str], str],
        timeout: float = 60,
        retries: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        source_urls: dict[str, list[str]] | None = None,
    ):
        self.url_templates = url_templates
        self.source_urls = dict(source_urls or {})
        self.lock = lock
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep

    def describe(self) -> str:
        return "CDC (" + self.url_templates[0].split("/{")[0] + ")"

    def urls(self, item: DataFile) -> list[str]:
        fields = {"cycle": item.cycle, "year": item.year, "file": item.name,
                  "file_lower_ext": item.name[:-4] + item.name[-4:].lower()}
        if item.source == "nhanes":
            templates = self.url_templates
        elif item.source in self.source_urls:
            templates = self.source_urls[item.source]
        else:
            raise FetchError(f"{item.relpath}: params.yaml fetch.source_urls has no {item.source!r} entry "
                             f"(where CDC publishes component {item.component})")
        return [template.format(**fields) for template in templates]

    def retrieve(self, item: DataFile, dest: Path) -> Retrieved:
        problems = []
        for url in self.urls(item):
            try:
                download(url, dest, self.timeout, self.retries, self.backoff, self.sleep, label=item.name)
                _reader(item).check_header(dest)
            except NotFoundAtSource as exc:
                problems.append(str(exc))
                continue
            except DataError as exc:  # e.g. an HTML error page served with status 200
                problems.append(f"{url}: {str(exc).split(': ', 1)[-1]}")
                continue
            return Retrieved(source=url, provenance="CDC public-use file",
                             expected_sha256=self.lock.get((item.cycle, item.name)))
        if all("HTTP 404" in p for p in problems):
            raise NotFoundAtSource(f"{item.relpath}: not found at CDC: " + "; ".join(problems))
        raise FetchError(f"{item.relpath}: no valid file at CDC: " + "; ".join(problems))

    def expected_rows(self, item: DataFile) -> int | None:
        return None

    def expected_sha256(self, item: DataFile) -> str | None:
        return self.lock.get((item.cycle, item.name))


def download(
    url: str,
    dest: Path,
    timeout: float,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
    label: str = "",
) -> None:
    """Stream `url` into `dest`, retrying timeouts, dropped connections and 5xx (not 4xx).

    On failure `dest` is removed, so no partial file survives.
    """
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            _stream(url, dest, timeout, label)
            return
        except urllib.error.HTTPError as exc:
            dest.unlink(missing_ok=True)
            if exc.code == 404:
                raise NotFoundAtSource(f"{url}: HTTP 404 Not Found") from exc
            if exc.code < 500:
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            last = f"HTTP {exc.code} {exc.reason}"
        except (TimeoutError, socket.timeout) as exc:
            dest.unlink(missing_ok=True)
            last = f"timed out after {timeout:g} s ({exc})"
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, _Truncated) as exc:
            dest.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                last = f"timed out after {timeout:g} s"
            else:
                last = f"{type(exc).__name__}: {reason}"
        log.warning("%s: attempt %d of %d failed: %s", url, attempt + 1, retries + 1, last)
    hint = (" (no network here? set NHANES_MIRROR to a local mirror directory)"
            if "Name or service not known" in last or "Temporary failure in name resolution" in last else "")
    raise FetchError(f"{url}: gave up after {retries + 1} attempts; last error: {last}{hint}")


class _Truncated(Exception):
    pass


def _stream(url: str, dest: Path, timeout: float, label: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "nhanes-deficiency-risk/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length")
        expected = int(declared) if declared and declared.isdigit() else None
        received = 0
        with open(dest, "wb") as out, tqdm(
            total=expected, unit="B", unit_scale=True, desc=label or url.rsplit("/", 1)[-1],
            leave=False, disable=None,
        ) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    raise _Truncated(f"connection closed after {received} of {expected} bytes") from exc
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received != expected:
        raise _Truncated(f"received {received} bytes, Content-Length said {expected}")


# --------------------------------------------------------------------------- manifest


def read_tsv(path: Path, comment: str | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows as dicts of strings) of a tab-separated file; empty cells stay "". The
    fetch stage reads and writes its tables with the standard library alone, so that an
    unchanged rerun (every `dvc repro`) does not pay for importing pandas."""
    with path.open(newline="", encoding="utf-8") as handle:
        lines = (line for line in handle if not (comment and line.startswith(comment)))
        reader = csv.DictReader(lines, delimiter="\t")
        rows = [dict(row) for row in reader]
        return list(reader.fieldnames or []), rows


def read_manifest_rows(path: Path) -> list[dict[str, str]]:
    return read_tsv(path)[1] if path.exists() else []


def read_manifest(path: Path):
    """data_raw/MANIFEST.tsv as a data frame of strings (empty without a manifest)."""
    import pandas as pd

    if not path.exists():
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    columns, rows = read_tsv(path)
    return pd.DataFrame(rows, columns=columns, dtype=object)


def in_order(rows: list[dict]) -> list[dict]:
    """The manifest's order: by cycle, then file."""
    return sorted(rows, key=lambda r: (r["cycle"], r["file"]))


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Sorted and stable, so an unchanged fetch rewrites identical bytes."""
    ordered = in_order(rows)
    with atomic.atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(MANIFEST_COLUMNS)
        for row in ordered:
            writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in MANIFEST_COLUMNS])


def read_lock(path: Path) -> dict[tuple[str, str], str]:
    """The lock file: sha256 of known CDC files (cycle, file, sha256)."""
    if not path.exists():
        return {}
    return {(r["cycle"], r["file"]): r["sha256"] for r in read_tsv(path, comment="#")[1]}


# --------------------------------------------------------------------------- the stage


def _reader(item: DataFile):
    from analysis.data.readers import reader_for  # pandas, only when a file is new

    return reader_for(load_catalog().components[item.component])


def _verify_new_file(item: DataFile, tmp: Path, expected_sha: str | None, expected_rows: int | None) -> tuple[str, int, int]:
    reader = _reader(item)
    try:
        reader.check_header(tmp)
    except DataError as exc:
        raise FetchError(f"{item.relpath}: {str(exc).split(': ', 1)[-1]}") from exc
    digest = sha256_of(tmp)
    if expected_sha and digest != expected_sha:
        raise FetchError(
            f"{item.relpath}: sha256 {digest} does not match the expected {expected_sha} "
            "(file changed or corrupted at the source)"
        )
    try:
        rows, cols = reader.shape(tmp)
    except DataError as exc:
        raise FetchError(f"{item.relpath}: {str(exc).split(': ', 1)[-1]}") from exc
    if expected_rows is not None and rows != expected_rows:
        raise FetchError(f"{item.relpath}: {rows} rows, the source manifest says {expected_rows}")
    return digest, rows, cols


STATE = ".verified.json"  # {relpath: [bytes, mtime_ns, sha256]} of files hashed on this disk


def fetch_all(source, present: list[DataFile], absent: list[DataFile], data_raw: Path, now: Callable[[], str] | None = None,
              force: bool = False):
    """`update`, returning the manifest as a data frame."""
    update(source, present, absent, data_raw, now, force)
    return read_manifest(data_raw / "MANIFEST.tsv")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def update(source, present: list[DataFile], absent: list[DataFile], data_raw: Path, now: Callable[[], str] | None = None,
           force: bool = False) -> list[dict]:
    """Fetch every file in `present` not already verified in data_raw/; return the manifest's rows.

    A file verified before is hashed again only if its size or modification time changed
    (or with `force`), so an unchanged rerun costs a stat per file.
    """
    now = now or utc_now
    manifest_path = data_raw / "MANIFEST.tsv"
    previous = {(r["cycle"], r["file"]): r for r in read_manifest_rows(manifest_path)}
    state_path = data_raw / STATE
    state = {} if force or not state_path.exists() else json.loads(state_path.read_text(encoding="utf-8"))
    rows: list[dict] = []
    for item in absent:
        rows.append(_absent_row(item, ABSENT_IN_CYCLE, "CDC did not publish this component for this cycle"))

    done: set[tuple[str, str]] = set()
    not_found: list[str] = []
    try:
        for item in tqdm(present, desc=f"fetch from {source.describe()}", unit="file", disable=None):
            key = (item.cycle, item.name)
            old = previous.get(key)
            if old and _still_verified(old, data_raw / item.relpath, source.expected_sha256(item), state):
                rows.append(old)
            else:
                try:
                    rows.append(_fetch_one(source, item, data_raw / item.relpath, now))
                except NotFoundAtSource as exc:
                    not_found.append(item.relpath)
                    (data_raw / item.relpath).unlink(missing_ok=True)
                    rows.append(_absent_row(item, source.absent_status, str(exc)))
            done.add(key)
    finally:
        # Keep what is known about files not reached (after an error), so a rerun resumes.
        rows += [r for k, r in previous.items() if k not in done and k in {(p.cycle, p.name) for p in present}]
        write_manifest(manifest_path, rows)
    write_manifest(manifest_path, rows)
    if not_found:  # said once, in plain words: the manifest and the report carry them file by file
        log.info("fetch: %d file(s) CDC publishes are not in %s: %s; analyses that need them say so",
                 len(not_found), source.describe(), ", ".join(not_found))
    fresh = {}
    for row in rows:
        path = data_raw / row["cycle"] / row["file"]
        if row["status"] in (VERIFIED, RECORDED) and path.exists():
            stat = path.stat()
            fresh[f"{row['cycle']}/{row['file']}"] = [stat.st_size, stat.st_mtime_ns, row["sha256"]]
    atomic.write_text(state_path, json.dumps(fresh, sort_keys=True) + "\n")
    return in_order(rows)


def _still_verified(old: dict, dest: Path, expected_sha: str | None, state: dict) -> bool:
    """A file fetched before is reused if it is unchanged on disk and still what the source says:
    the same size and modification time as when it was last hashed here, else the same sha256."""
    if old["status"] not in (VERIFIED, RECORDED) or not dest.exists():
        return False
    if expected_sha is not None and expected_sha != old["sha256"]:
        return False  # the source changed
    stat = dest.stat()
    known = state.get(f"{old['cycle']}/{old['file']}")
    if known and known == [stat.st_size, stat.st_mtime_ns, old["sha256"]]:
        return True
    return sha256_of(dest) == old["sha256"]


def _fetch_one(source, item: DataFile, dest: Path, now: Callable[[], str]) -> dict:
    """Retrieve and verify one file; it appears at `dest` only if every check passed."""
    with atomic.atomic_path(dest) as tmp:
        got = source.retrieve(item, tmp)
        digest, n_rows, n_cols = _verify_new_file(item, tmp, got.expected_sha256, source.expected_rows(item))
        size = tmp.stat().st_size
    return {
        "cycle": item.cycle, "file": item.name, "component": item.component,
        "status": VERIFIED if got.expected_sha256 else RECORDED,
        "bytes": str(size), "sha256": digest, "rows": str(n_rows), "cols": str(n_cols),
        "source": got.source, "provenance": got.provenance, "retrieved_at": now(),
    }


def _absent_row(item: DataFile, status: str, why: str) -> dict:
    return {"cycle": item.cycle, "file": item.name, "component": item.component, "status": status,
            "bytes": "", "sha256": "", "rows": "", "cols": "", "source": "", "provenance": why,
            "retrieved_at": ""}


def make_source(fetch_params: dict, mirror: Path | None, root: Path):
    if mirror is not None:
        return MirrorSource(mirror)
    lock = read_lock(root / fetch_params.get("lock_file", "nhanes.lock.tsv"))
    return CdcSource(
        url_templates=list(fetch_params["cdc_urls"]),
        lock=lock,
        timeout=float(fetch_params.get("timeout_seconds", 60)),
        retries=int(fetch_params.get("retries", 4)),
        backoff=float(fetch_params.get("backoff_seconds", 2.0)),
        source_urls={name: list(urls) for name, urls in fetch_params.get("source_urls", {}).items()},
    )


def sync(fetch_params: dict, root: Path, mirror: Path | None, force: bool = False) -> list[dict]:
    """The fetch stage: data_raw/ brought up to the catalog and the source; the manifest's rows."""
    catalog = load_catalog()
    present, absent = catalog.plan(list(fetch_params["cycles"]), list(fetch_params["components"]))
    source = make_source(fetch_params, mirror, root)
    rows = update(source, present, absent, root / "data_raw", force=force)
    counts = Counter(r["status"] for r in rows)
    log.info("fetch: %s", ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return rows


def run(fetch_params: dict, root: Path, mirror: Path | None, force: bool = False):
    """`sync`, returning the manifest as a data frame."""
    sync(fetch_params, root, mirror, force)
    return read_manifest(root / "data_raw" / "MANIFEST.tsv")
