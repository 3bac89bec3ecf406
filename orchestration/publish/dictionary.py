"""The data dictionary of a publish: every mart's columns, with type, description, disclosure class and rounding.

Why: a BI user opening the files needs to know what each column means and why a cell may be
empty, without dbt or the repository. Descriptions come from the marts' dbt YAML (read as
files, no `dbt parse`), so they are the catalogue's own words; the columns the publish adds
(the withheld flags and list) are described here. Written into every publish as
``data_dictionary.csv`` and under ``dictionary`` in the manifest; small, so never carried.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path

import yaml

from orchestration.publish.disclosure import FLAG_SUFFIX, WITHHELD

MARTS_YAML_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"
DICTIONARY_CSV = "data_dictionary.csv"
FIELDS = ("mart", "column", "position", "type", "description", "disclosure_class", "rounding")
# the manifest's names for the disclosure classes, as the dictionary states them
CLASS_NAMES = {
    "counts": "count", "derived": "derived", "as_is": "none", "benchmark_value": "benchmark value",
    "benchmark_group": "benchmark group statistic", "withheld_flag": "withheld flag", "withheld_list": "withheld list",
}


@lru_cache(maxsize=None)
def _descriptions(folder: Path) -> dict[str, dict[str, str]]:
    """mart -> column -> description, from every model YAML in `folder`."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            columns = found.setdefault(str(model["name"]), {})
            for column in model.get("columns") or []:
                columns[str(column["name"])] = " ".join(str(column.get("description") or "").split())
    return found


def description(mart: str, column: str, folder: Path = MARTS_YAML_DIR) -> str:
    """The column's description: the dbt YAML's, or the publish's own for the columns it adds."""
    if column == WITHHELD:
        return ("The columns withheld in this row, comma-separated ('' when none). Kept for readers of earlier "
                f"publishes; the <column>{FLAG_SUFFIX} flags say the same, one boolean per column.")
    known = _descriptions(folder).get(mart, {})
    if column.endswith(FLAG_SUFFIX) and column not in known:
        source = column[: -len(FLAG_SUFFIX)]
        return (f"true where {source} is withheld by disclosure control (a small count of children, or a figure that "
                f"would give one away; the manifest's disclosure rules say which), and {source} is then empty; false "
                f"where {source} is published, so an empty {source} with false here is a missing value, not a withheld one.")
    return known.get(column, "")


def dictionary_rows(marts: list[dict], rounding) -> list[dict]:
    """One row per published column of every mart, from the manifest's mart entries (name, columns)."""
    rows = []
    for mart in marts:
        for position, column in enumerate(mart["columns"], start=1):
            rows.append({
                "mart": mart["name"],
                "column": column["name"],
                "position": position,
                "type": column["type"],
                "description": description(mart["name"], column["name"]),
                "disclosure_class": CLASS_NAMES.get(column["disclosure"], column["disclosure"]),
                "rounding": rounding.describe(mart["name"], column["name"]),
            })
    return rows


def dictionary_csv(rows: list[dict]) -> bytes:
    """The dictionary as CSV (UTF-8, comma, a header row), the same bytes for the same rows."""
    text = io.StringIO()
    out = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    out.writeheader()
    out.writerows(rows)
    return text.getvalue().encode("utf-8")
