"""The contract's rules are data: a new rule is a YAML change, and a rule outside the SQL subset is refused."""

import shutil

import pytest
import yaml

from orchestration.returns import schema
from orchestration.returns.rule_checks import reference_frames
from orchestration.returns.rule_sql import RuleError, compile_contract
from orchestration.returns.validate import validate_path
from orchestration.returns.writers import write_return
from tests.conftest import EXTRA_COLUMN
from tests.fixtures.broken import TODAY
from tests.fixtures.returns import good_tables

NEW_RULE = {
    "code": "PLC-SHORT-BREAK-IFA",
    "severity": "warning",
    "table": "placements",
    "column": EXTRA_COLUMN["name"],
    "when": f"{EXTRA_COLUMN['name']} = 'Y' AND placement_provider IN ('PR4', 'PR5')",
    "message": "a short break is not usually bought from an independent provider; please check it",
    "detail": " (placement {placement_type} with {placement_provider}, £{weekly_cost} a week)",
}


def _contract_file(folder, change):
    source = schema.load_contract("1.0").source
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(raw)
    (folder / "monthly-return-v1.1.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    schema.load_contract.cache_clear()


def test_a_rule_added_in_a_new_contract_version_is_checked_with_no_code(contracts_with_v11, tmp_path):
    def add_rule(raw):
        raw["version"] = "1.1"
        raw["tables"]["placements"]["columns"].append(dict(EXTRA_COLUMN))
        raw["rules"].append(NEW_RULE)

    _contract_file(contracts_with_v11, add_rule)
    tables = good_tables()
    tables["submission"]["return_version"] = "1.1"
    tables["placements"][EXTRA_COLUMN["name"]] = ["N", "Y", "Y", "N"]  # rows 3 (U4 with PR4) and 4 (K2 with PR4)
    checked = validate_path(write_return(tables, tmp_path / "v11.zip", "zip"), max_expanded_bytes=10**8, today=TODAY)
    assert checked.status == "accepted_with_warnings"
    assert checked.findings[["code", "row", "column", "value", "expected"]].values.tolist() == [
        ["PLC-SHORT-BREAK-IFA", 3, EXTRA_COLUMN["name"], "Y", NEW_RULE["message"] + " (placement U4 with PR4, £877 a week)"],
        ["PLC-SHORT-BREAK-IFA", 4, EXTRA_COLUMN["name"], "Y", NEW_RULE["message"] + " (placement K2 with PR4, £4500 a week)"],
    ]
    # a 1.0 return is checked by 1.0's rules, which do not have it
    old = validate_path(write_return(good_tables(), tmp_path / "v10.zip", "zip"), max_expanded_bytes=10**8, today=TODAY)
    assert (old.contract.version, old.status) == ("1.0", "accepted")


@pytest.mark.parametrize(
    "rule, says",
    [
        ({"when": "child_id IS NOT NULL", "show": "child_id"}, "personal data (child_id)"),
        ({"when": "true", "detail": " {date_of_birth}"}, "personal data (date_of_birth)"),
        ({"select": "SELECT _row AS row, child_id AS shown FROM placements"}, "personal data (child_id)"),
        ({"when": "EXISTS (SELECT 1 FROM read_csv('/etc/passwd'))"}, "read_csv"),
        ({"when": "EXISTS (SELECT 1 FROM ops.submissions)"}, "only the return's tables"),
        ({"when": "EXISTS (SELECT 1 FROM secrets)"}, "neither a table of the return nor reference data"),
        ({"select": "SELECT 1 AS row FROM placements AS p WHERE placement_category(placement_type, p.placement_provider) IS NULL"}, "without its table"),
        ({"when": "weekly_cost >"}, "not valid SQL"),
        ({}, "neither `when` nor `select`"),
    ],
)
def test_a_rule_outside_the_subset_is_refused_when_the_contract_is_compiled(contracts_with_v11, rule, says):
    def add_rule(raw):
        raw["version"] = "1.1"
        raw["rules"].append({"code": "BAD-RULE", "severity": "error", "table": "placements", "message": "x", **rule})

    _contract_file(contracts_with_v11, add_rule)
    contract = schema.load_contract("1.1")
    with pytest.raises(RuleError, match="BAD-RULE") as refused:
        compile_contract(contract, reference_frames(contract, None))
    assert says in str(refused.value)


def test_every_rule_of_the_shipped_contract_compiles_and_the_spec_shows_its_sql():
    from orchestration.returns.docs import render_markdown

    contract = schema.load_contract("1.0")
    compiled = compile_contract(contract, reference_frames(contract, None))
    assert [r.code for r in compiled.rules] == [r["code"] for r in contract.rules]
    spec = render_markdown(contract)
    for rule in contract.rules:
        assert f"**`{rule['code']}`**" in spec
        assert " ".join((rule.get("when") or rule["select"]).split())[:60] in " ".join(spec.split())
    for name in contract.functions:
        assert f"**`{name}(" in spec


def test_a_contract_with_a_bad_rule_stops_the_run_before_any_return_is_read(contracts_with_v11, settings, landing):
    from orchestration.ingest import ingest_landing
    from orchestration.settings import ConfigurationError

    def add_rule(raw):
        raw["version"] = "1.1"
        raw["rules"].append({"code": "BAD-RULE", "severity": "error", "table": "placements", "message": "x", "when": "EXISTS (SELECT 1 FROM secrets)"})

    _contract_file(contracts_with_v11, add_rule)
    write_return(good_tables(), landing / "2023-09.zip", "zip")
    with pytest.raises(ConfigurationError, match=r"monthly-return-v1.1.yaml cannot be used: rule BAD-RULE reads 'secrets'"):
        ingest_landing(settings)
    assert not (settings.data_dir / "findings").exists()


def test_a_declared_key_without_its_rule_is_refused(contracts_with_v11):
    def drop_rule(raw):
        raw["version"] = "1.1"
        raw["rules"] = [r for r in raw["rules"] if (r["code"], r["table"]) != ("ROW-DUPLICATE-KEY", "finance")]

    _contract_file(contracts_with_v11, drop_rule)
    contract = schema.load_contract("1.1")
    with pytest.raises(RuleError, match="table 'finance' declares a key but no ROW-DUPLICATE-KEY rule checks it"):
        compile_contract(contract, reference_frames(contract, None))
