"""The nutrient registry (analysis/data/nutrients.yaml) as typed objects: each nutrient's NHANES
variables, unit and Dietary Reference Intakes by life-stage group, checked when read so that a
typo in the reference data fails loudly instead of giving a wrong share."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from typing import TYPE_CHECKING

from analysis.core.config import load_yaml
from analysis.core.errors import ConfigError

if TYPE_CHECKING:  # pandas and numpy are imported where used: the fetch stage reads the registry without them
    import numpy as np
    import pandas as pd

FILE = "analysis/data/nutrients.yaml"
DRI_KINDS = ("ear", "rda", "ai", "ul", "cdrr")
UL_BASES = ("total", "supplements", "not_estimated")
REQUIREMENT_METHODS = ("cut_point", "probability")


@dataclass(frozen=True)
class LifeStage:
    name: str
    sex: str  # male, female or both
    min_age: float
    max_age: float
    state: str | None  # pregnant, lactating or None


@dataclass(frozen=True)
class Nutrient:
    name: str
    label: str
    unit: str
    code: str
    supplement: bool
    dri: dict[str, tuple[float | None, ...]]  # kind -> one value per life stage
    ul_applies_to: str
    ul_note: str
    ul_supplement_divisor: float
    requirement: str
    not_published: tuple[str, ...]
    source: str
    food_2001_2002: str = ""

    # the analytic columns the clean stage writes for it (data_clean/nutrient_intakes.parquet)
    @property
    def day1_column(self) -> str:
        return f"{self.name}_day1"

    @property
    def day2_column(self) -> str:
        return f"{self.name}_day2"

    @property
    def supplement_column(self) -> str:
        return f"{self.name}_supplement"

    def variables(self) -> dict[str, str]:
        """{component: harmonized CDC variable} of every file that carries the nutrient."""
        out = {"DR1TOT": f"DR1T{self.code}", "DR2TOT": f"DR2T{self.code}"}
        if self.supplement:
            out |= {"DS1TOT": f"DS1T{self.code}", "DS2TOT": f"DS2T{self.code}", "DSQTOT": f"DSQT{self.code}"}
        return out

    def name_2001_2002(self) -> str:
        """The day-1 variable's name in DRXTOT_B (2001-2002's only public recall)."""
        return self.food_2001_2002 or f"DRXT{self.code}"

    def has(self, kind: str) -> bool:
        return any(v is not None for v in self.dri.get(kind, ()))


@dataclass(frozen=True)
class Registry:
    life_stages: tuple[LifeStage, ...]
    nutrients: dict[str, Nutrient]
    iron_requirements: dict = field(default_factory=dict)

    def get(self, name: str) -> Nutrient:
        if name not in self.nutrients:
            raise ConfigError(f"{FILE}: no nutrient {name!r}; the registry has {sorted(self.nutrients)}")
        return self.nutrients[name]

    def select(self, names: list[str]) -> list[Nutrient]:
        """Nutrients by name, in the registry's order; 'all' for every one."""
        if list(names) == ["all"]:
            return list(self.nutrients.values())
        unknown = [n for n in names if n not in self.nutrients]
        if unknown:
            raise ConfigError(f"unknown nutrient(s) {unknown}; the registry ({FILE}) has {sorted(self.nutrients)}")
        return [n for n in self.nutrients.values() if n.name in names]

    def life_stage(self, age: pd.Series, sex: pd.Series, pregnant: pd.Series) -> pd.Series:
        """Each person's DRI life-stage group (missing below age 1, or where age or sex is unknown;
        lactation cannot be told from the files, see the registry)."""
        import pandas as pd
        out = pd.Series(pd.NA, index=age.index, dtype="string")
        is_pregnant = pregnant.fillna(False).astype(bool).to_numpy()
        for stage in self.life_stages:
            if stage.state == "lactating":
                continue
            member = (age >= stage.min_age) & (age <= stage.max_age)
            if stage.sex != "both":
                member &= sex == stage.sex
            member = member.fillna(False).to_numpy(dtype=bool).copy()
            member &= is_pregnant if stage.state == "pregnant" else ~is_pregnant
            out[member & out.isna().to_numpy()] = stage.name
        return out

    def dri_values(self, nutrient: Nutrient, kind: str, stages: pd.Series) -> np.ndarray:
        """The DRI `kind` of each person's life stage (NaN where none)."""
        import numpy as np
        import pandas as pd

        values = dict(zip([s.name for s in self.life_stages], nutrient.dri.get(kind, [None] * len(self.life_stages))))
        return stages.map(lambda s: np.nan if pd.isna(s) or values.get(s) is None else float(values[s])).to_numpy(float)


def _nutrient(name: str, spec: dict, n_stages: int) -> Nutrient:
    where = f"{FILE}: nutrient {name}"
    for key in ("label", "unit", "code", "source", "ul_applies_to"):
        if key not in spec:
            raise ConfigError(f"{where}: missing {key!r}")
    dri = {}
    for kind in DRI_KINDS:
        if kind in spec:
            values = spec[kind]
            if len(values) != n_stages:
                raise ConfigError(f"{where}: {kind} has {len(values)} values, expected one per life stage ({n_stages})")
            if any(v is not None and (not isinstance(v, (int, float)) or v <= 0) for v in values):
                raise ConfigError(f"{where}: {kind} values must be positive numbers or null")
            dri[kind] = tuple(None if v is None else float(v) for v in values)
    if not ({"ear", "ai"} & set(dri)):
        raise ConfigError(f"{where}: needs an EAR or an AI")
    if spec["ul_applies_to"] not in UL_BASES:
        raise ConfigError(f"{where}: ul_applies_to {spec['ul_applies_to']!r}, expected one of {UL_BASES}")
    if spec["ul_applies_to"] != "not_estimated" and "ul" not in dri:
        raise ConfigError(f"{where}: ul_applies_to {spec['ul_applies_to']} but no ul values")
    supplement = bool(spec.get("supplement", True))
    if spec["ul_applies_to"] == "supplements" and not supplement:
        raise ConfigError(f"{where}: a UL on supplements needs the nutrient's supplement variables")
    requirement = spec.get("requirement", "cut_point")
    if requirement not in REQUIREMENT_METHODS:
        raise ConfigError(f"{where}: requirement {requirement!r}, expected one of {REQUIREMENT_METHODS}")
    if requirement == "cut_point" and "ear" not in dri and "ai" not in dri:
        raise ConfigError(f"{where}: the cut-point method needs an EAR")
    return Nutrient(name=name, label=spec["label"], unit=spec["unit"], code=spec["code"], supplement=supplement,
                    dri=dri, ul_applies_to=spec["ul_applies_to"], ul_note=spec.get("ul_note", ""),
                    ul_supplement_divisor=float(spec.get("ul_supplement_divisor", 1.0)), requirement=requirement,
                    not_published=tuple(spec.get("not_published", ())), source=spec["source"],
                    food_2001_2002=spec.get("food_2001_2002", ""))


def parse(raw: dict) -> Registry:
    stages = tuple(LifeStage(name, sex, float(lo), float(hi), state)
                   for name, (sex, lo, hi, state) in raw["life_stages"].items())
    nutrients = {name: _nutrient(name, spec, len(stages)) for name, spec in raw["nutrients"].items()}
    names = {s.name for s in stages}
    for group, spec in raw.get("iron_requirements", {}).items():
        if set(spec["groups"]) - names:
            raise ConfigError(f"{FILE}: iron_requirements {group}: unknown group(s) {sorted(set(spec['groups']) - names)}")
        intakes = spec["intake_mg"]
        if len(spec["percentiles"]) != len(intakes) or any(b <= a for a, b in zip(intakes, intakes[1:])):
            raise ConfigError(f"{FILE}: iron_requirements {group}: percentiles and increasing intakes must pair up")
    return Registry(stages, nutrients, dict(raw.get("iron_requirements", {})))


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    return parse(load_yaml(resources.files("analysis.data").joinpath("nutrients.yaml").read_text(encoding="utf-8")))
