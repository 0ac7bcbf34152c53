"""Read params.yaml and fix the project's paths, so no other module hard-codes either."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analysis.core.errors import ConfigError

MIRROR_ENV = "NHANES_MIRROR"
log = logging.getLogger(__name__)
# A directory holding both is a project root (DVC runs every stage there).
ROOT_MARKERS = ("params.yaml", "dvc.yaml")


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The project root: `start` (default: the working directory) or the nearest directory above
    it that holds params.yaml and dvc.yaml, as git and dvc find theirs."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if all((candidate / marker).is_file() for marker in ROOT_MARKERS):
            return candidate
    raise ConfigError(f"no project found at or above {here}: the project directory is the one holding "
                      f"{' and '.join(ROOT_MARKERS)} (a clone of this repository); run the command inside it, "
                      "or name it with --root PROJECT_DIR")


def project_root(root: str | os.PathLike | None) -> Path:
    """The root a command works in: the one named (which must hold params.yaml), else find_root()."""
    if root is None:
        return find_root()
    path = Path(root).resolve()
    if not (path / "params.yaml").is_file():
        raise ConfigError(f"--root {root}: no params.yaml in {path}; --root names the project directory (the one "
                          "holding params.yaml and dvc.yaml); leave it out to find it from the working directory")
    return path


@dataclass(frozen=True)
class Paths:
    """Where each stage reads and writes, relative to one project root."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def data_raw(self) -> Path:
        return self.root / "data_raw"

    @property
    def raw_manifest(self) -> Path:
        return self.data_raw / "MANIFEST.tsv"

    @property
    def data_clean(self) -> Path:
        return self.root / "data_clean"

    @property
    def analytic(self) -> Path:
        return self.data_clean / "analytic.parquet"

    @property
    def dictionary(self) -> Path:
        return self.data_clean / "dictionary.csv"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tables(self) -> Path:
        return self.reports / "tables"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"


# libyaml's parser where PyYAML was built with it (the same documents, several times faster)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """yaml.safe_load, with the C parser when there is one."""
    return yaml.load(text, Loader=_LOADER)


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: parameters file not found")
    try:
        params = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return params


def section(params: dict[str, Any], name: str, path: str = "params.yaml") -> dict[str, Any]:
    if name not in params or not isinstance(params[name], dict):
        raise ConfigError(f"{path}: section '{name}' is missing")
    return params[name]


REMEMBERED_MIRROR = Path("data_raw") / "MIRROR"  # the mirror the last fetch used (one line: its path)


def resolve_mirror(fetch_params: dict[str, Any], root: Path) -> Path | None:
    """The mirror directory: NHANES_MIRROR if set, else params `fetch.mirror`, else the mirror
    the last fetch in this checkout used (data_raw/MIRROR, while it exists), else None (CDC).
    So a plain `dvc repro` after a first run on a mirror keeps using that mirror.

    A relative path is taken relative to the project root, which is where DVC runs stages.
    """
    value = os.environ.get(MIRROR_ENV) or fetch_params.get("mirror")
    if not value:
        remembered = root / REMEMBERED_MIRROR
        if remembered.is_file():
            last = Path(remembered.read_text(encoding="utf-8").strip())
            if last.is_dir():
                log.info("fetch: using the mirror the last run used, %s (from %s; delete that file to download "
                         "from CDC, or set %s)", last, REMEMBERED_MIRROR, MIRROR_ENV)
                return last
        return None
    mirror = Path(value)
    if not mirror.is_absolute():
        mirror = (root / mirror).resolve()
    if not mirror.is_dir():
        origin = MIRROR_ENV if os.environ.get(MIRROR_ENV) else "params.yaml fetch.mirror"
        raise ConfigError(f"{origin}: mirror directory {mirror} does not exist")
    return mirror


def remember_mirror(root: Path, mirror: Path | None) -> None:
    """Record the mirror this fetch used (or, after a download from CDC, that none was)."""
    remembered = root / REMEMBERED_MIRROR
    if mirror is None:
        remembered.unlink(missing_ok=True)
    else:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(f"{mirror.resolve()}\n", encoding="utf-8")


def check_params(params: dict[str, Any], path: str = "params.yaml") -> None:
    """Refuse settings that cannot be right, before any work is done, naming the setting."""
    clean = section(params, "clean", path)
    low, high = clean["ranges"]["vitd_serum_nmol"]
    analyze = params.get("analyze", {})
    cutoffs = analyze.get("vitd_cutoffs_nmol", [])
    if not cutoffs or any(not (low < c < high) for c in cutoffs) or list(cutoffs) != sorted(set(cutoffs)):
        raise ConfigError(f"{path}: analyze.vitd_cutoffs_nmol = {cutoffs}: cut-offs must increase and lie "
                          f"inside the plausible 25(OH)D range ({low}, {high}) nmol/L")
    for sex, bands in clean["mg_ear_mg"].items():
        for band in bands:
            if len(band) != 3 or band[0] > band[1] or band[2] <= 0:
                raise ConfigError(f"{path}: clean.mg_ear_mg.{sex} band {band}: expected [min_age, max_age, EAR > 0]")
    positive = {"clean.vitd_supp_cap_ug": clean.get("vitd_supp_cap_ug"),
                "analyze.high_ca_mg_ratio": analyze.get("high_ca_mg_ratio"),
                "analyze.dose_unit_ug": analyze.get("dose_unit_ug"),
                "analyze.min_domain_n": analyze.get("min_domain_n")}
    for name, value in positive.items():
        if value is not None and not value > 0:
            raise ConfigError(f"{path}: {name} = {value}: must be positive")
    if not 0 < clean["femneck_reference_sd"]:
        raise ConfigError(f"{path}: clean.femneck_reference_sd must be positive")
