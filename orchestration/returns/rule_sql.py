"""The contract's rules, compiled once into one SQL query over a whole batch of returns.

A rule in the contract is written as if its return were alone: `when` is a
condition on a row of its table, `select` a query over the return's tables.
The compiler makes that true for a batch: every return table a rule reads is
replaced by that table's rows of one return (`_return = reporting._return`),
and the rule runs LATERAL to `batch_returns`, the batch's one row per return,
which the rule sees as `reporting`. DuckDB turns the correlation into joins
on `_return`, so a thousand returns cost one query per batch, not a thousand.

The SQL a rule may use is checked when the contract is compiled (see
docs/contract-rules.md): one SELECT, reading only the return's tables, the
reference tables, `reporting` and `contract_versions`, calling only the SQL
functions DuckDB has and the contract's own `functions`; a finding never shows
a personal-data column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import duckdb
import sqlglot
from sqlglot import exp

from orchestration.returns.schema import Contract, known_versions, warehouse_columns
from orchestration.settings import ConfigurationError

STAGED_TYPES = {"int": "BIGINT", "money": "DOUBLE", "date": "DATE", "datetime": "TIMESTAMP", "period": "DATE", "code": "VARCHAR", "text": "VARCHAR"}
CONTEXT_TABLES = {"reporting", "contract_versions"}
# Functions that reach outside the return (files, the environment, the catalogue) are refused.
_REFUSED_FUNCTIONS = re.compile(r"^(read_|glob$|getenv$|current_setting$|query|sniff_|parquet_|json_execute|duckdb_|pragma_|sql_)", re.I)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class RuleError(ConfigurationError):
    """A rule of the contract is not in the SQL subset, or would show personal data: the contract
    cannot be used (exit status 2), and no return is blamed for it."""


@dataclass(frozen=True)
class CompiledRule:
    index: int
    code: str
    severity: str
    table: str
    column: str | None
    sql: str  # this rule's findings over the batch: _return, _rule, row, value, expected
    reads: tuple[str, ...]  # the return tables it reads: a return without one of them is not checked


@dataclass(frozen=True)
class CompiledContract:
    version: str
    rules: tuple[CompiledRule, ...]
    functions_sql: tuple[str, ...]  # CREATE MACRO statements

    @property
    def sql(self) -> str:
        """Every rule's findings, in one result, in the order the report lists them within a row."""
        if not self.rules:
            return "SELECT NULL::BIGINT AS _return, NULL::INTEGER AS _rule, NULL::BIGINT AS row, NULL::VARCHAR AS value, NULL::VARCHAR AS expected WHERE false"
        union = "\nUNION ALL\n".join(f"({r.sql})" for r in self.rules)
        return f"SELECT * FROM ({union}) AS found ORDER BY _return, _rule, row NULLS FIRST, expected"


def staged_name(table: str) -> str:
    return f"batch_{table}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def functions_sql(contract: Contract) -> tuple[str, ...]:
    return tuple(
        f"CREATE OR REPLACE TEMP MACRO {name}({', '.join(spec['args'])}) AS ({spec['sql']})"
        for name, spec in contract.functions.items()
    )


def prepare_connection(con: duckdb.DuckDBPyConnection, reference: dict, returns=None, tables: dict | None = None) -> None:
    """Give `con` what rules read but the contract's functions (`functions_sql`): the reference tables,
    `contract_versions`, `batch_returns` and a staged table per return table (empty unless `tables` holds its rows)."""
    for name, frame in reference.items():
        con.register(f"_reference_{name}", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _reference_{name}")
        con.unregister(f"_reference_{name}")
    versions = ", ".join(f"({_literal(v)}, {i})" for i, v in enumerate(known_versions()))
    con.execute(f"CREATE OR REPLACE TEMP TABLE contract_versions AS SELECT * FROM (VALUES {versions}) AS v(version, ordinal)")
    columns = warehouse_columns()
    for table, cols in columns.items():
        typed = ", ".join(f"CAST({c.name} AS {STAGED_TYPES[c.type]}) AS {c.name}" for c in cols)
        frame = (tables or {}).get(table)
        if frame is None:
            empty = ", ".join(f"NULL::{STAGED_TYPES[c.type]} AS {c.name}" for c in cols)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {staged_name(table)} AS SELECT NULL::BIGINT AS _return, NULL::BIGINT AS _row, {empty} WHERE false")
            continue
        con.register("_staging", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staged_name(table)} AS SELECT CAST(_return AS BIGINT) AS _return, CAST(_row AS BIGINT) AS _row, {typed} FROM _staging")
        con.unregister("_staging")
    flags = ", ".join(f"NULL::BOOLEAN AS has_{t}" for t in columns)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batch_returns AS SELECT NULL::BIGINT AS _return, NULL::VARCHAR AS contract_version, NULL::DATE AS month_start, "
        f"NULL::DATE AS month_end, NULL::DATE AS current_month, NULL::DATE AS earliest_month, {flags} WHERE false"
    )
    if returns is not None:
        con.register("_returns", returns)
        con.execute("INSERT INTO batch_returns BY NAME SELECT * FROM _returns")
        con.unregister("_returns")


_CACHE: dict = {}


def compile_contract(contract: Contract, reference: dict) -> CompiledContract:
    """Every rule of `contract` as SQL over a batch, compiled once per contract file; raises RuleError
    for a rule outside the subset. (The SQL does not depend on the reference data, only on its columns.)"""
    cache_key = (contract.version, str(contract.source), contract.source.stat().st_mtime_ns if contract.source.exists() else 0)
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    with duckdb.connect() as con:
        prepare_connection(con, reference)
        for statement in functions_sql(contract):
            con.execute(statement)
        try:
            _check_declarations(contract)
            rules = tuple(_compile_rule(i, rule, contract, con) for i, rule in enumerate(contract.rules))
        except RuleError as exc:
            raise RuleError(f"the contract {contract.source.name} cannot be used: {exc}") from None
        compiled = CompiledContract(contract.version, rules, functions_sql(contract))
    _CACHE[cache_key] = compiled
    return compiled


def clear_cache() -> None:
    _CACHE.clear()


# What a table declares, and the rule that must check it (the declarations word the template and the spec).
_DECLARED = {"key": "ROW-DUPLICATE-KEY", "rows": "TABLE-ROW-COUNT", "required_codes": "TABLE-CODE-MISSING"}


def _check_declarations(contract: Contract) -> None:
    """Each table's key, row count and required codes has its rule: the two never drift apart unseen."""
    have = {(r["code"], r["table"]) for r in contract.rules}
    for table in contract.tables.values():
        declared = {"key": table.key, "rows": table.rows_min or table.rows_max is not None, "required_codes": table.required_codes}
        for what, code in _DECLARED.items():
            if declared[what] and (code, table.name) not in have:
                raise RuleError(f"table '{table.name}' declares a {what.replace('_', ' ')} but no {code} rule checks it")


def _compile_rule(index: int, rule: dict, contract: Contract, con) -> CompiledRule:
    code, table = rule["code"], rule["table"]
    if table not in contract.tables:
        raise RuleError(f"rule {code} points at '{table}', which is not a table of the return")
    column = rule.get("column")
    personal = {c.name for t in contract.tables.values() for c in t.columns if c.personal}
    details = _PLACEHOLDER.findall(rule.get("detail", ""))
    literals = _PLACEHOLDER.split(rule.get("detail", ""))[::2]
    extra = "".join(f", {expression} AS _d{i}" for i, expression in enumerate(details))
    if "select" in rule:
        shows = _check_outputs(code, rule["select"], personal)
        inner = f"SELECT found.row AS row, {'found.shown' if shows else 'NULL'} AS shown{extra} FROM ({rule['select']}) AS found"
    elif "when" in rule:
        show = rule.get("show") or (column if column and column not in personal else "NULL")
        inner = f"SELECT _row AS row, {show} AS shown{extra} FROM {table} WHERE {rule['when']}"
        _check_shown(code, [rule.get("show") or "NULL", *details], personal)
    else:
        raise RuleError(f"rule {code} has neither `when` nor `select`")
    tree = _parsed(code, inner)
    if "when" in rule:
        _qualify(tree, table, contract)
    _check_arguments(code, tree, contract)
    reads = _scoped(code, tree, contract)
    inner_sql = tree.sql(dialect="duckdb")
    described = con.execute(f"DESCRIBE SELECT * FROM batch_returns AS reporting, LATERAL ({inner_sql}) AS found").fetchall()
    type_of = {row[0]: row[1] for row in described}
    parts = [_literal(rule["message"])]
    for i, literal in enumerate(literals):
        if literal:
            parts.append(_literal(literal))
        if i < len(details):
            parts.append(_as_text(f"found._d{i}", type_of[f"_d{i}"]))
    flags = " AND ".join(f"reporting.has_{t}" for t in reads)
    sql = (
        f"SELECT reporting._return AS _return, {index} AS _rule, CAST(found.row AS BIGINT) AS row, "
        f"{_as_text('found.shown', type_of['shown'])} AS value, concat({', '.join(parts)}) AS expected "
        f"FROM batch_returns AS reporting, LATERAL ({inner_sql}) AS found "
        f"WHERE reporting.contract_version = {_literal(contract.version)}" + (f" AND {flags}" if flags else "")
    )
    return CompiledRule(index, code, rule["severity"], table, column, sql, reads)


def _parsed(code: str, sql: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise RuleError(f"rule {code} is not valid SQL: {str(exc).splitlines()[0]}") from exc
    if not isinstance(tree, exp.Select):
        raise RuleError(f"rule {code} must be a single SELECT")
    for node in tree.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Command, exp.Pragma, exp.Copy)):
            raise RuleError(f"rule {code} may only read: {type(node).__name__} is not allowed")
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _REFUSED_FUNCTIONS.match(name or ""):
                raise RuleError(f"rule {code} calls {name.lower()}, which reads outside the return")
    return tree


def _qualify(tree: exp.Select, table: str, contract: Contract) -> None:
    """A row rule's own columns, named bare, are qualified with its table: a function's SQL is
    substituted as written, so a bare `placement_type` passed to a look-up would be read as the
    reference table's column of that name inside it."""
    own = {c.name for c in contract.tables[table].columns} | {"_row"}
    for node in tree.find_all(exp.Column):
        if not node.table and node.name in own and node.find_ancestor(exp.Select) is tree:
            node.set("table", exp.to_identifier(table))


def _check_arguments(code: str, tree: exp.Expression, contract: Contract) -> None:
    """Every column passed to a function that looks something up names its table (see `_qualify`)."""
    looks_up = {name.lower() for name, spec in contract.functions.items() if "select" in spec["sql"].lower()}
    for node in tree.find_all(exp.Anonymous):
        if node.name.lower() not in looks_up:
            continue
        for argument in node.expressions:
            bare = [c.name for c in ([argument] if isinstance(argument, exp.Column) else argument.find_all(exp.Column)) if not c.table]
            if bare:
                raise RuleError(
                    f"rule {code} passes {', '.join(bare)} to {node.name} without its table: write table.column "
                    "(inside the function a bare name would be read as a column of the table it looks in)"
                )


def _scoped(code: str, tree: exp.Expression, contract: Contract) -> tuple[str, ...]:
    """Replace each return table the rule reads by that table's rows of the return being checked."""
    reference = set(contract.reference_files)
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    reads: list[str] = []
    for node in list(tree.find_all(exp.Table)):
        name = node.name
        if not isinstance(node.this, exp.Identifier) or node.args.get("db") or node.args.get("catalog"):
            raise RuleError(f"rule {code} reads '{node.sql()}': a rule reads only the return's tables and the reference tables")
        if name in ctes or name in reference or name in CONTEXT_TABLES:
            continue
        if name not in contract.tables:
            raise RuleError(f"rule {code} reads '{name}', which is neither a table of the return nor reference data")
        alias = node.alias or name
        staged = staged_name(name)
        scoped = sqlglot.parse_one(f"(SELECT * FROM {staged} WHERE {staged}._return = reporting._return) AS {alias}", read="duckdb")
        node.replace(scoped)
        if name not in reads:
            reads.append(name)
    return tuple(reads)


def _columns_in(sql: str) -> set[str]:
    return {c.name for c in sqlglot.parse_one(f"SELECT {sql}", read="duckdb").find_all(exp.Column)}


def _check_shown(code: str, expressions: list[str], personal: set[str]) -> None:
    for expression in expressions:
        if hit := _columns_in(expression) & personal:
            raise RuleError(f"rule {code} would show personal data ({', '.join(sorted(hit))}) in a finding")


def _check_outputs(code: str, select: str, personal: set[str]) -> bool:
    """The columns a set rule gives back may not be personal data (what it filters and groups on may).
    True when it gives back a `shown` value."""
    tree = sqlglot.parse_one(select, read="duckdb")
    for projection in tree.expressions:
        if projection.alias_or_name == "row":
            continue
        if hit := {c.name for c in projection.find_all(exp.Column)} & personal:
            raise RuleError(f"rule {code} would show personal data ({', '.join(sorted(hit))}) in a finding")
    return any(p.alias_or_name == "shown" for p in tree.expressions)


def _as_text(value: str, sql_type: str) -> str:
    """A value as a finding shows it: whole numbers without '.0', dates as YYYY-MM-DD."""
    if sql_type in ("DOUBLE", "FLOAT", "REAL") or sql_type.startswith("DECIMAL"):
        return f"CASE WHEN {value} = trunc({value}) THEN CAST(CAST({value} AS HUGEINT) AS VARCHAR) ELSE CAST({value} AS VARCHAR) END"
    if sql_type == "DATE":
        return f"strftime({value}, '%Y-%m-%d')"
    if sql_type.startswith("TIMESTAMP"):
        return (
            f"CASE WHEN {value} = date_trunc('day', {value}) THEN strftime({value}, '%Y-%m-%d') "
            f"WHEN microsecond({value}) % 1000000 <> 0 THEN strftime({value}, '%Y-%m-%d %H:%M:%S.%f') "
            f"ELSE strftime({value}, '%Y-%m-%d %H:%M:%S') END"
        )
    return f"CAST({value} AS VARCHAR)"
