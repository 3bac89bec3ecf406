"""Run the contract's compiled rules over a batch of typed returns, in one DuckDB query per contract version.

The typed tables of every return of the batch are staged together, one table
per return table with the return's number (`_return`) and its rows' Excel row
or CSV line (`_row`); `batch_returns` holds each return's reporting month and
which tables it has. The findings come back as one result and are handed to
each return's own `Findings`, so its report is what it would be alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from orchestration import reference
from orchestration.returns.findings import Findings
from orchestration.returns.readers import ROW
from orchestration.returns.rule_sql import compile_contract, functions_sql, prepare_connection
from orchestration.returns.schema import Contract, warehouse_columns


@dataclass
class RuleInput:
    """One readable return as the rules see it."""

    contract: Contract
    tables: frozenset[str]  # the tables it has (typed; the rows are staged)
    letters: dict[str, dict[str, str]]  # table -> column -> Excel letter
    period: dt.date | None  # the reporting month's first day, when the return says one


def reference_frames(contract: Contract, reference_dir: Path | None) -> dict[str, pd.DataFrame]:
    """The reference tables the contract names, as the rules read them."""
    loaders = {
        "local_authorities": reference.local_authorities,
        "placement_categories": reference.placement_categories,
        "cost_ranges": reference.cost_ranges,
    }
    return {name: loaders[name](reference_dir) for name in contract.reference_files}


def check_contracts(reference_dir: Path | None) -> None:
    """Compile every known contract's rules: a rule outside the subset stops a run before any return
    is read (RuleError, exit status 2), instead of rejecting every return for it."""
    from orchestration.returns.schema import known_versions, load_contract

    for version in known_versions():
        contract = load_contract(version)
        compile_contract(contract, reference_frames(contract, reference_dir))


def check_rules(
    returns: list[RuleInput], staged: dict[str, pd.DataFrame], *, reference_dir: Path | None, today: dt.date
) -> list[Findings]:
    """Each return's rule findings, all returns checked together. `staged` holds each table's typed
    rows of every return, stacked as validation typed them, with the return's place in `returns` as `_return`."""
    out = [Findings() for _ in returns]
    if not returns:
        return out
    frame = _findings(returns, reference_dir, today, _ordered(staged))
    if frame.empty:
        return out
    for (number, index), hits in frame.groupby(["_return", "_rule"], sort=False):
        given = returns[number]
        rule = given.contract.rules[index]
        table, column = rule["table"], rule.get("column")
        out[number].add(
            rule["code"], rule["severity"], hits["expected"],
            table=table, rows=hits["row"].astype("Int64"), column=column,
            letter=given.letters.get(table, {}).get(column), values=hits["value"].astype(object).where(hits["value"].notna(), None),
        )
    return out


def _findings(returns: list[RuleInput], reference_dir: Path | None, today: dt.date, staged: dict[str, pd.DataFrame]) -> pd.DataFrame:
    versions = {r.contract.version: r.contract for r in returns}
    first = next(iter(versions.values()))
    frames = reference_frames(first, reference_dir)
    compiled = {v: compile_contract(c, frames) for v, c in versions.items()}
    with duckdb.connect() as con:
        prepare_connection(con, frames, _batch_returns(returns, today), staged)
        found = []
        for version, contract in versions.items():  # each version's functions, then its rules
            for statement in functions_sql(contract):
                con.execute(statement)
            found.append(con.execute(compiled[version].sql).df())
    # each return's findings come from its own version's query, already in order
    return pd.concat(found, ignore_index=True)


def _ordered(staged: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Stacked tables in the staged layout: `_return`, `_row`, then every column the warehouse has."""
    out = {}
    for table, columns in warehouse_columns().items():
        frame = staged.get(table)
        if frame is not None and len(frame):
            out[table] = frame.reindex(columns=["_return", ROW, *(c.name for c in columns)]).rename(columns={ROW: "_row"})
    return out


def _batch_returns(returns: list[RuleInput], today: dt.date) -> pd.DataFrame:
    tables = list(warehouse_columns())
    month = pd.Timestamp(today).to_period("M").to_timestamp()
    periods = pd.to_datetime(pd.Series([r.period for r in returns], dtype=object)).astype("datetime64[us]")
    frame = pd.DataFrame(
        {
            "_return": range(len(returns)),
            "contract_version": [r.contract.version for r in returns],
            "month_start": periods,
            "month_end": periods + pd.offsets.MonthEnd(0),
            "current_month": month,
            "earliest_month": pd.to_datetime([f"{r.contract.earliest_period}-01" for r in returns]),
        }
    )
    for table in tables:
        frame[f"has_{table}"] = [table in r.tables for r in returns]
    return frame
