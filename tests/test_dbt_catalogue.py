"""dbt as the data catalogue (`make docs`): the overview page, groups and owners, exposures, source freshness.

Read from the dbt manifest (dbt_project/target/manifest.json, made current by
`prepare_manifest`), and checked against the code: the exposures must name exactly the
marts the publish writes and the marts the report's pages read, from those modules' own
lists. The slow test builds an empty warehouse to compare every model's documented
columns with the columns it really has, and runs `dbt source freshness` on a ledger
of known age.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.dbt_project import DBT_DIR, prepare_manifest
from orchestration.publish.disclosure import load_rules
from orchestration.report import hub_page, la_page
from orchestration.warehouse import LEDGER_DDL, connect, ensure_schema
from tests.conftest import PROJECT_ROOT

DBT = Path(sys.executable).parent / "dbt"
PROJECT = "fostering"
LEDGER = f"source.{PROJECT}.ops.submissions"
ONE_MONTH = 31  # days: the longest month
PERIOD_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(prepare_manifest().read_text())


def _models(manifest: dict, folder: str | None = None) -> dict[str, dict]:
    """The project's models (of one folder under models/, if given) by name."""
    return {
        n["name"]: n for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == PROJECT and (folder is None or n["fqn"][1] == folder)
    }


def _published_marts() -> set[str]:
    """What the publish writes: every mart of the warehouse's marts schema, which must each be classified
    in disclosure.yaml (the publish refuses any other), so the classified marts are the published ones."""
    return set(load_rules().marts)


def _report_marts() -> set[str]:
    """The marts the report's pages declare they read (the LA pages and the hub pages)."""
    return set(la_page.MARTS) | set(hub_page.MARTS)


def _days(threshold: dict) -> float:
    return threshold["count"] * PERIOD_DAYS[threshold["period"]]


def _due_day() -> int:
    return int(yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())["vars"]["submission_due_day"])


# --- the overview page ------------------------------------------------------------------------


def test_the_docs_open_on_the_projects_overview_not_dbts_welcome_page(manifest):
    docs = manifest["docs"]
    ours = docs.get(f"doc.{PROJECT}.__overview__")
    assert ours is not None, "no {% docs __overview__ %} block in dbt_project/models"
    assert ours["block_contents"].strip() != docs["doc.dbt.__overview__"]["block_contents"].strip()
    text = ours["block_contents"]
    for words in ("staging", "intermediate", "marts", "ops.submissions", "sufficiency", "recruitment", "cost per placement",
                  "freshness", "late"):
        assert words.lower() in text.lower(), f"the overview does not mention {words}"
    # it links every mart, and every link it has leads to a real page of the docs
    links = re.findall(r"\(#!/(model|source|exposure|seed)/([\w.]+)\)", text)
    assert links, "the overview links nothing"
    for kind, unique_id in links:
        found = {"source": manifest["sources"], "exposure": manifest["exposures"]}.get(kind, manifest["nodes"])
        assert unique_id in found, f"the overview links {unique_id}, which is not in the manifest"
    linked = {unique_id for _, unique_id in links}
    assert {n["unique_id"] for n in _models(manifest, "marts").values()} <= linked


# --- groups and owners ------------------------------------------------------------------------


def test_every_model_and_seed_is_in_a_group_with_a_named_owner(manifest):
    groups = {g["name"]: g for g in manifest["groups"].values()}
    assert groups, "no groups"
    for name, group in groups.items():
        owner = group["owner"]
        assert (owner.get("name") or "").strip(), f"group {name} has no owner name"
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", owner.get("email") or ""), f"group {name} has no owner e-mail"
        assert (group.get("description") or "").strip(), f"group {name} is not described"
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed") and n["package_name"] == PROJECT]
    assert {n["resource_type"] for n in nodes} == {"model", "seed"}
    outside = sorted(n["name"] for n in nodes if n["config"].get("group") not in groups)
    assert outside == [], f"not in a group: {outside}"


def test_each_layer_is_the_group_dagster_shows_it_in(manifest):
    from orchestration.assets.dbt import FosteringDbtTranslator

    translator = FosteringDbtTranslator()
    for node in manifest["nodes"].values():
        if node["resource_type"] in ("model", "seed") and node["package_name"] == PROJECT:
            assert node["config"]["group"] == translator.get_group_name(node), node["name"]


def test_refs_across_groups_are_allowed(manifest):
    """dbt's default access (protected) lets any group ref a model; a private model may be ref'd only in its group."""
    nodes = manifest["nodes"]
    across = 0
    for node in nodes.values():
        if node["resource_type"] != "model" or node["package_name"] != PROJECT:
            continue
        for parent_id in node["depends_on"].get("nodes", []):
            parent = nodes.get(parent_id)
            if parent is None or parent["resource_type"] not in ("model", "seed"):
                continue
            if parent["config"]["group"] != node["config"]["group"]:
                across += 1
                assert parent.get("access") != "private", f"{node['name']} refs {parent['name']}, private to another group"
    assert across, "no ref crosses a group: the check above checked nothing"


# --- exposures --------------------------------------------------------------------------------


def _exposure(manifest: dict, name: str) -> dict:
    exposure = manifest["exposures"].get(f"exposure.{PROJECT}.{name}")
    assert exposure is not None, f"no exposure {name}"
    assert exposure["description"].strip() and exposure["url"] and exposure["maturity"] in ("high", "medium", "low")
    assert exposure["owner"].get("name") and "@" in (exposure["owner"].get("email") or "")
    return exposure


def _depends_on_marts(exposure: dict) -> set[str]:
    prefix = f"model.{PROJECT}."
    assert all(d.startswith(prefix) for d in exposure["depends_on"]["nodes"]), exposure["depends_on"]["nodes"]
    return {d[len(prefix):] for d in exposure["depends_on"]["nodes"]}


def test_the_publish_is_an_exposure_of_exactly_the_published_marts(manifest):
    published = _published_marts()
    # the publish writes every table of the marts schema: the models of models/marts
    assert published == set(_models(manifest, "marts"))
    exposure = _exposure(manifest, "published_marts")
    assert exposure["type"] in ("application", "analysis")
    assert _depends_on_marts(exposure) == published


def test_the_html_report_is_an_exposure_of_exactly_the_marts_it_reads(manifest):
    read = _report_marts()
    exposure = _exposure(manifest, "html_report")
    assert exposure["type"] == "dashboard"
    assert _depends_on_marts(exposure) == read
    assert read <= _published_marts()  # the report is drawn from the publish


def test_no_report_page_reads_a_mart_its_page_does_not_declare():
    """Every mart named in the report's page code is in the declared lists the exposure is checked against.

    data.py is left out: it names every mart in MART_KEYS (how a cell is referenced), read or not.
    """
    named = set()
    for path in (PROJECT_ROOT / "orchestration" / "report").glob("*.py"):
        if path.name == "data.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"mart_\w+", node.value):
                named.add(node.value)
    assert named <= _report_marts(), sorted(named - _report_marts())


# --- source freshness of the returns ----------------------------------------------------------


def test_the_ledger_has_freshness_matching_the_due_date(manifest):
    ledger = manifest["sources"][LEDGER]
    field = ledger["loaded_at_field"]
    assert field == "received_at"
    assert re.search(rf"^\s*{field}\s+TIMESTAMP\b", LEDGER_DDL, re.M), f"ops.submissions has no timestamp column {field}"
    freshness = ledger["freshness"]
    warn, error = freshness["warn_after"], freshness["error_after"]
    assert warn["count"] and error["count"], freshness
    # warn: nothing received for longer than a month plus the due day, i.e. a due date passed with no return
    assert _days(warn) >= _due_day() + ONE_MONTH
    # error: a cycle after that
    assert _days(error) >= _days(warn) + 28
    assert field in ledger["columns"] and ledger["columns"][field]["description"]
    for words in ("mart_submission_status", "any LA"):
        assert words in ledger["description"], f"the ledger's description does not say {words!r}"


def test_every_source_with_freshness_says_which_column_to_read(manifest):
    """DuckDB has no load metadata, so a freshness without loaded_at_field would fail `dbt source freshness`."""
    for unique_id, source in manifest["sources"].items():
        freshness = source.get("freshness") or {}
        if freshness.get("warn_after", {}).get("count") or freshness.get("error_after", {}).get("count"):
            assert source.get("loaded_at_field") or source.get("loaded_at_query"), unique_id


# --- every column of every model is described -------------------------------------------------


def test_every_model_and_documented_column_is_described(manifest):
    for name, model in _models(manifest).items():
        assert model["description"].strip(), f"{name} is not described"
        assert model["columns"], f"{name} documents no column"
        missing = [c for c, col in model["columns"].items() if not (col.get("description") or "").strip()]
        assert missing == [], f"{name}: columns not described: {missing}"


def _dbt(args: list[str], warehouse: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target-path", str(target),
         "--log-path", str(target / "logs")],
        capture_output=True, text=True,
        env={**os.environ, "FOSTERING_WAREHOUSE": str(warehouse), "FOSTERING_REFERENCE_DIR": str(DBT_DIR / "seeds")},
    )


def _freshness_after(days: float, warehouse: Path, target: Path) -> tuple[int, str]:
    """`dbt source freshness` when the newest return was received `days` ago: its exit status and the ledger's status."""
    received = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(days=days)
    with connect(warehouse) as con:
        con.execute("DELETE FROM ops.submissions")
        con.execute(
            "INSERT INTO ops.submissions (submission_id, source_path, received_at, status, errors, warnings, is_current) "
            "VALUES ('x', 'x.xlsx', ?, 'accepted', 0, 0, true)", [received],
        )
    ran = _dbt(["source", "freshness", "--select", "source:ops.submissions"], warehouse, target)
    results = json.loads((target / "sources.json").read_text())["results"]
    return ran.returncode, {r["unique_id"]: r["status"] for r in results}[LEDGER]


@pytest.mark.slow
def test_docs_catalogue_and_freshness_on_a_built_warehouse(tmp_path, manifest):
    """`dbt build` (freshness is not part of it), then `dbt docs generate`: every column every model and
    seed really has is documented and described. Then `dbt source freshness` passes, warns and errors as
    the newest return gets older."""
    warehouse, target = tmp_path / "warehouse.duckdb", tmp_path / "target"
    with connect(warehouse) as con:
        ensure_schema(con)
    built = _dbt(["build", "--empty", "--exclude-resource-type", "unit_test"], warehouse, target)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "freshness" not in built.stdout.lower()
    generated = _dbt(["docs", "generate", "--no-compile"], warehouse, target)
    assert generated.returncode == 0, generated.stdout[-3000:]
    assert (target / "index.html").exists()

    catalog = json.loads((target / "catalog.json").read_text())["nodes"]
    nodes = {n["unique_id"]: n for n in manifest["nodes"].values()
             if n["resource_type"] in ("model", "seed") and n["package_name"] == PROJECT and n["config"].get("enabled", True)}
    assert set(nodes) <= set(catalog), sorted(set(nodes) - set(catalog))
    for unique_id, node in nodes.items():
        real = {c.lower() for c in catalog[unique_id]["columns"]}
        documented = {c.lower(): (col.get("description") or "").strip() for c, col in node["columns"].items()}
        assert real == set(documented), f"{node['name']}: not documented {sorted(real - set(documented))}, " \
                                        f"documented but absent {sorted(set(documented) - real)}"
        assert all(documented.values()), f"{node['name']}: a column without a description"

    due = _due_day()
    assert _freshness_after(1, warehouse, target) == (0, "pass")
    assert _freshness_after(due + ONE_MONTH + 1, warehouse, target) == (0, "warn")
    code, status = _freshness_after(2 * ONE_MONTH + due + 1, warehouse, target)
    assert status == "error" and code != 0
