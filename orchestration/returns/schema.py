"""The return contract, loaded from its versioned YAML file.

Validation, the raw warehouse tables, the blank template and the docs are all
generated from these objects, so a new 1.x version of the return is a new YAML
file and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from orchestration.settings import load_settings

# Column types as the warehouse stores them.
SQL_TYPES = {
    "int": "BIGINT",
    "money": "DECIMAL(14, 2)",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "period": "DATE",
    "code": "VARCHAR",
    "text": "VARCHAR",
}

# What a value of each type may be for every step to the warehouse to hold it
# exactly. Validation reports anything beyond as an error (CELL-OUT-OF-RANGE),
# so a store never meets a value it cannot take. Whole numbers travel as
# float64 (exact to 2**53); money is DECIMAL(14, 2); dates as pandas
# timestamps, and no date in a fostering return is outside these years.
STORABLE_WHOLE_MAX = 2**53 - 1
STORABLE_MONEY_ABS_BELOW = 10**12
STORABLE_DATES = ("1900-01-01", "2199-12-31")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    description: str = ""
    code_list: str | None = None
    personal: bool = False
    pseudonymise: bool = False
    degrade: str | None = None
    min: int = 0
    allow_negative: bool = False

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    rows_min: int = 0
    rows_max: int | None = None
    required_codes: dict[str, list[str]] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class CodeList:
    name: str
    description: str
    codes: dict[str, str]


@dataclass(frozen=True)
class Contract:
    version: str
    title: str
    earliest_period: str
    tables: dict[str, Table]
    code_lists: dict[str, CodeList]
    rules: tuple[dict, ...]
    reference_files: dict[str, str]
    source: Path
    functions: dict[str, dict] = field(default_factory=dict)  # name -> {args, sql, description}: SQL the rules may call


def _code_lists(raw: dict, reference_dir: Path) -> dict[str, CodeList]:
    from orchestration.reference import placement_code_labels

    lists = {}
    for name, spec in raw.items():
        if spec.get("from_reference") == "placement_categories":
            codes = placement_code_labels(reference_dir)
        else:
            codes = {str(k): str(v) for k, v in spec["codes"].items()}
        lists[name] = CodeList(name, spec.get("description", ""), codes)
    return lists


def _table(name: str, spec: dict) -> Table:
    rows = spec.get("rows", {})
    return Table(
        name=name,
        description=spec.get("description", ""),
        columns=tuple(Column(**c) for c in spec["columns"]),
        key=tuple(spec.get("key", ())),
        rows_min=rows.get("min", 0),
        rows_max=rows.get("max"),
        required_codes=spec.get("required_codes", {}),
    )


def contract_files(contracts_dir: Path | None = None) -> dict[str, Path]:
    """Every contract version this pipeline knows, by version string."""
    return _contract_files(contracts_dir or load_settings().contracts_dir)


@lru_cache(maxsize=None)
def _contract_files(contracts_dir: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(contracts_dir.glob("monthly-return-v*.yaml")):
        version = yaml.safe_load(path.read_text(encoding="utf-8"))["version"]
        files[str(version)] = path
    return files


def _by_number(versions) -> list[str]:
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def known_versions() -> list[str]:
    return _by_number(contract_files())


def load_contract(version: str | None = None) -> Contract:
    """The contract for one return version (the newest when none is named)."""
    return _load_contract(version, load_settings().contracts_dir)


def clear_caches() -> None:
    """Forget loaded contracts (tests that write a new contract version call this)."""
    from orchestration.returns import rule_sql  # compiled from the contracts: they go with them

    _load_contract.cache_clear()
    _contract_files.cache_clear()
    rule_sql.clear_cache()


load_contract.cache_clear = clear_caches  # type: ignore[attr-defined]


@lru_cache(maxsize=None)
def _load_contract(version: str | None, contracts_dir: Path) -> Contract:
    settings = load_settings()
    files = contract_files(contracts_dir)
    version = version or _by_number(files)[-1]
    if version not in files:
        raise KeyError(f"no contract for return version {version!r}; known: {', '.join(sorted(files))}")
    path = files[version]
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Contract(
        version=str(raw["version"]),
        title=raw["title"],
        earliest_period=str(raw["earliest_period"]),
        tables={name: _table(name, spec) for name, spec in raw["tables"].items()},
        code_lists=_code_lists(raw["code_lists"], settings.reference_dir),
        rules=tuple(raw.get("rules", ())),
        reference_files=raw.get("reference_data", {}),
        source=path,
        functions=raw.get("functions", {}),
    )


def warehouse_columns() -> dict[str, list[Column]]:
    """Every column any known version has, per table: the raw tables hold them all.

    A column added in a later version is appended, so older returns load with
    it empty and the raw tables only ever grow.
    """
    merged: dict[str, list[Column]] = {}
    for version in known_versions():
        for table in load_contract(version).tables.values():
            have = merged.setdefault(table.name, [])
            names = {c.name for c in have}
            have.extend(c for c in table.columns if c.name not in names)
    return merged
