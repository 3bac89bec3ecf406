"""Ingest as assets: the ledger and the raw tables a return lands in.

One multi-asset writes them all because one return is one transaction across
them. Its asset keys (`ops/submissions`, `raw/<table>`) are the keys the dbt
sources map to, so dbt models hang off these assets in the asset graph.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime.
from pathlib import Path

import dagster as dg

from orchestration.ingest import ingest_landing
from orchestration.resources import LandingResource, PseudonymKeyResource, WarehouseResource, settings_from
from orchestration.returns.schema import warehouse_columns

LEDGER_KEY = dg.AssetKey(["ops", "submissions"])
FINDINGS_KEY = dg.AssetKey(["ops", "findings"])
RAW_KEYS = {table: dg.AssetKey(["raw", table]) for table in warehouse_columns()}


class IngestConfig(dg.Config):
    """Which returns to ingest: the named paths, or (when empty) everything new in the landing folder."""

    paths: list[str] = []


@dg.multi_asset(
    name="ingest_returns",
    group_name="ingest",
    pool="fostering_warehouse",  # DuckDB has one writer: runs that write it take turns
    specs=[
        dg.AssetSpec(
            LEDGER_KEY,
            description="Every return received: checksum, LA, period, status, findings counts, which version is current.",
            owners=["team:fostering-data"],
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            FINDINGS_KEY,
            description="Every finding of every return received: code, severity, sheet, row, column, value (never personal data), expected.",
            owners=["team:fostering-data"],
            kinds={"duckdb"},
        ),
        *(
            dg.AssetSpec(
                key,
                description=f"Rows of the return's `{table}` table, one set per accepted return, keyed by submission_id. "
                "Identifiers pseudonymised and dates of birth degraded.",
                owners=["team:fostering-data"],
                kinds={"duckdb"},
            )
            for table, key in RAW_KEYS.items()
        ),
    ],
)
def ingest_returns(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: WarehouseResource,
    landing: LandingResource,
    pseudonym_key: PseudonymKeyResource,
):
    settings = settings_from(warehouse, landing, pseudonym_key)
    summary = ingest_landing(settings, paths=[Path(p) for p in config.paths] or None)
    for ignored in summary.ignored:
        context.log.warning(f"ignored {ignored.path}: {ignored.reason}")
    outcomes = [o.__dict__ for o in summary.outcomes]
    counts = {status: summary.count(status) for status in ("accepted", "accepted_with_warnings", "rejected", "already_received")}
    yield dg.MaterializeResult(
        asset_key=LEDGER_KEY,
        metadata={
            **{f"returns_{k}": v for k, v in counts.items()},
            "files_ignored": len(summary.ignored),
            "outcomes": dg.MetadataValue.json(outcomes),
            "ignored": dg.MetadataValue.json([{"path": str(i.path), "reason": i.reason} for i in summary.ignored]),
        },
    )
    yield dg.MaterializeResult(asset_key=FINDINGS_KEY)
    for table, key in RAW_KEYS.items():
        yield dg.MaterializeResult(asset_key=key, metadata={"placement_rows_loaded": summary.placement_rows} if table == "placements" else {})
