"""The NHANES catalog (analysis/data/catalog.yaml) as typed objects: which files exist, and what we read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

from analysis.core.config import load_yaml
from analysis.core.errors import ConfigError
from analysis.data.nutrients import load_registry


@dataclass(frozen=True)
class Component:
    name: str
    description: str
    stem: str
    stem_by_cycle: dict[str, str]
    cycles: tuple[str, ...]
    variables: tuple[str, ...]
    optional: tuple[str, ...] = ()
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    missing_codes: dict[str, tuple[float, ...]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    format: str = "xpt"  # "xpt" (SAS transport) or "fixed_width" (with `layout`)
    file_name: str = ""  # a name pattern ({y1}, {y2}: the cycle's years) instead of <stem>_<suffix>.XPT
    source: str = "nhanes"  # where CDC publishes it: "nhanes" (params fetch.cdc_urls) or another key of fetch.source_urls
    layout: dict[str, tuple[int, int]] = field(default_factory=dict)  # fixed width: variable -> (first, last) column
    # labels from CDC's / NCHS's documentation for files that carry none (fixed width; CSV-converted)
    labels: dict[str, str] = field(default_factory=dict)
    not_published: dict[str, tuple[str, ...]] = field(default_factory=dict)  # cycle -> required variables CDC lacks there
    rows: str = "person"  # "person" (merged onto DEMO), "product" (several rows per person) or "database" (no SEQN)
    home: dict = field(default_factory=dict)  # a database file's {cycle, year}: the folder CDC lists it under
    text: tuple[str, ...] = ()  # variables holding text; all others must be numeric

    def exists_in(self, cycle: str) -> bool:
        return cycle in self.cycles

    def unit_of(self, variable: str) -> str | None:
        return self.units.get(variable)

    def renames_for(self, cycle: str) -> dict[str, str]:
        """{name in this cycle's file: harmonized name}."""
        return dict(self.renames.get(cycle, {}))

    def required_in(self, cycle: str) -> tuple[str, ...]:
        """The required variables CDC published in `cycle`."""
        lacking = set(self.not_published.get(cycle, ()))
        return tuple(v for v in self.variables if v not in lacking)


@dataclass(frozen=True)
class DataFile:
    """One public-use file: a component in a cycle."""

    cycle: str
    component: str
    name: str  # e.g. DEMO_J.XPT
    year: int
    source: str = "nhanes"  # which CDC download area publishes it (see Component.source)

    @property
    def relpath(self) -> str:
        return f"{self.cycle}/{self.name}"


@dataclass(frozen=True)
class Catalog:
    cycles: dict[str, dict]
    components: dict[str, Component]

    def units(self) -> dict[str, str]:
        """{variable: published unit} over every component."""
        return {name: unit for component in self.components.values() for name, unit in component.units.items()}

    def suffix(self, cycle: str) -> str:
        return self.cycles[cycle]["suffix"]

    def data_file(self, cycle: str, component: str) -> DataFile:
        comp = self.components[component]
        if comp.rows == "database":
            return DataFile(comp.home["cycle"], component, comp.file_name, int(comp.home["year"]), comp.source)
        if comp.file_name:
            first, last = cycle.split("-")
            name = comp.file_name.format(y1=first, y2=last)
        else:
            name = f"{comp.stem_by_cycle.get(cycle, comp.stem)}_{self.suffix(cycle)}.XPT"
        return DataFile(cycle, component, name, self.cycles[cycle]["year"], comp.source)

    def validate_selection(self, cycles: list[str], components: list[str]) -> None:
        unknown_cycles = [c for c in cycles if c not in self.cycles]
        if unknown_cycles:
            raise ConfigError(
                f"params.yaml fetch.cycles: unknown cycle(s) {unknown_cycles}; "
                f"the catalog knows {sorted(self.cycles)}"
            )
        unknown = [c for c in components if c not in self.components]
        if unknown:
            raise ConfigError(
                f"params.yaml fetch.components: unknown component(s) {unknown}; "
                f"the catalog knows {sorted(self.components)}"
            )

    def plan(self, cycles: list[str], components: list[str]) -> tuple[list[DataFile], list[DataFile]]:
        """Split the selection into files CDC published and files absent in their cycle."""
        self.validate_selection(cycles, components)
        present, absent = [], []
        for component in components:  # a database file once, from its own folder
            if self.components[component].rows == "database":
                present.append(self.data_file("", component))
        for cycle in cycles:
            for component in components:
                if self.components[component].rows == "database":
                    continue
                target = present if self.components[component].exists_in(cycle) else absent
                target.append(self.data_file(cycle, component))
        return present, absent


ROWS = ("person", "product", "database")


def _component(name: str, spec: dict, all_cycles: tuple[str, ...]) -> Component:
    cycles = all_cycles if spec.get("cycles", "all") == "all" else tuple(spec["cycles"])
    if spec.get("rows", "person") not in ROWS:
        raise ConfigError(f"analysis/data/catalog.yaml: component {name}: rows {spec['rows']!r}, expected one of {ROWS}")
    if spec.get("rows") == "database" and not ({"cycle", "year"} <= set(spec.get("home", {})) and spec.get("file_name")):
        raise ConfigError(f"analysis/data/catalog.yaml: database component {name} needs home: {{cycle, year}} and file_name")
    if spec.get("rows") == "database":
        cycles = ()
    return Component(
        name=name,
        description=spec.get("description", ""),
        stem=spec.get("stem", name),
        stem_by_cycle=dict(spec.get("stem_by_cycle", {})),
        cycles=cycles,
        variables=tuple(spec["variables"]),
        optional=tuple(spec.get("optional", ())),
        renames={str(k): dict(v) for k, v in spec.get("renames", {}).items()},
        missing_codes={k: tuple(v) for k, v in spec.get("missing_codes", {}).items()},
        units=dict(spec.get("units", {})),
        format=spec.get("format", "xpt"),
        file_name=spec.get("file_name", ""),
        source=spec.get("source", "nhanes"),
        layout={name: (int(first), int(last)) for name, (first, last) in spec.get("layout", {}).items()},
        labels={str(k): str(v) for k, v in spec.get("labels", {}).items()},
        not_published={str(k): tuple(v) for k, v in spec.get("not_published", {}).items()},
        rows=spec.get("rows", "person"),
        home=dict(spec.get("home", {})),
        text=tuple(spec.get("text", ())),
    )


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    text = resources.files("analysis.data").joinpath("catalog.yaml").read_text(encoding="utf-8")
    raw = load_yaml(text)
    cycles = {str(k): v for k, v in raw["cycles"].items()}
    all_cycles = tuple(cycles)
    components = {name: _component(name, spec, all_cycles) for name, spec in raw["components"].items()}
    return Catalog(cycles=cycles, components=with_registry_nutrients(components))


def with_registry_nutrients(components: dict[str, Component]) -> dict[str, Component]:
    """Every nutrient of the registry (analysis/data/nutrients.yaml) read, when its file has it,
    from the dietary and supplement totals (optional: a cycle or mirror without it leaves it
    missing); 2001-2002's DRXTOT_B names renamed to the later ones."""
    out = dict(components)
    nutrients = list(load_registry().nutrients.values())
    for name, component in components.items():
        wanted = [n.variables()[name] for n in nutrients if name in n.variables()]
        if not wanted:
            continue
        optional = component.optional + tuple(v for v in wanted if v not in component.variables + component.optional)
        renames = {cycle: dict(names) for cycle, names in component.renames.items()}
        if name == "DR1TOT":  # the catalog's own renames first; a variable it already renames is left to it
            own = renames.get("2001-2002", {})
            extra = {n.name_2001_2002(): n.variables()["DR1TOT"] for n in nutrients}
            renames["2001-2002"] = {old: new for old, new in extra.items() if new not in own.values()} | own
        out[name] = replace(component, optional=optional, renames=renames)
    return out
