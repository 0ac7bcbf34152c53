"""One interface over the file formats CDC publishes NHANES data in: SAS transport (the survey
files) and fixed-width text (NCHS's linked mortality files). The catalog names each
component's format; fetch and the clean stage read every file through `reader_for`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.data import fixed_width, xpt
from analysis.data.catalog import Component


class XptReader:
    def check_header(self, path: Path) -> None:
        xpt.check_header(path)

    def column_names(self, path: Path) -> list[str]:
        return xpt.column_names(path)

    def read(self, path: Path, columns: list[str]) -> pd.DataFrame:
        return xpt.read_xpt(path, columns=columns)

    def shape(self, path: Path) -> tuple[int, int]:
        return xpt.shape(path)


@dataclass(frozen=True)
class FixedWidthReader:
    layout: fixed_width.Layout

    def check_header(self, path: Path) -> None:
        fixed_width.check_header(path)

    def column_names(self, path: Path) -> list[str]:
        return list(self.layout)

    def read(self, path: Path, columns: list[str]) -> pd.DataFrame:
        return fixed_width.read_fixed_width(path, self.layout, columns)

    def shape(self, path: Path) -> tuple[int, int]:
        return fixed_width.shape(path, self.layout)


def reader_for(component: Component) -> XptReader | FixedWidthReader:
    if component.format == "fixed_width":
        return FixedWidthReader(component.layout)
    return XptReader()
