"""Read params.yaml and fix the project's paths, so no other module hard-codes either."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analysis.errors import ConfigError

MIRROR_ENV = "NHANES_MIRROR"


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


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: parameters file not found")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return params


def section(params: dict[str, Any], name: str, path: str = "params.yaml") -> dict[str, Any]:
    if name not in params or not isinstance(params[name], dict):
        raise ConfigError(f"{path}: section '{name}' is missing")
    return params[name]


def resolve_mirror(fetch_params: dict[str, Any], root: Path) -> Path | None:
    """The mirror directory: NHANES_MIRROR if set, else params `fetch.mirror`, else None (CDC).

    A relative path is taken relative to the project root, which is where DVC runs stages.
    """
    value = os.environ.get(MIRROR_ENV) or fetch_params.get("mirror")
    if not value:
        return None
    mirror = Path(value)
    if not mirror.is_absolute():
        mirror = (root / mirror).resolve()
    if not mirror.is_dir():
        origin = MIRROR_ENV if os.environ.get(MIRROR_ENV) else "params.yaml fetch.mirror"
        raise ConfigError(f"{origin}: mirror directory {mirror} does not exist")
    return mirror
