"""One `fostering run` (ingest, dbt, quality gate, publish) of a work folder, as a stage measures it.

The work folder holds `landing/` (returns hard-linked from the history by
`bench.history`) and `data/` (warehouse, archive, findings, publishes). The
history's own LA list (`HISTORY/.reference`) is the reference data, as it
would be for a deployment with its own list. Counters come from the
warehouse after the run; times per step from the run itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH_KEY = "bench-only-pseudonymisation-key-not-a-secret"


def environment(history: Path, work: Path) -> dict[str, str]:
    return {
        "FOSTERING_LANDING": str(work / "landing"),
        "FOSTERING_DATA_DIR": str(work / "data"),
        "FOSTERING_WAREHOUSE": str(work / "data" / "warehouse.duckdb"),
        "FOSTERING_REFERENCE_DIR": str(history / ".reference"),
        "FOSTERING_PSEUDONYM_KEY": BENCH_KEY,
    }


def run(history: Path, work: Path) -> dict:
    """Run the pipeline on the work folder; what it did, as counters."""
    os.environ.update(environment(history, work))
    from orchestration.pipeline import run_pipeline  # after the environment: settings are read from it
    from orchestration.settings import load_settings
    from orchestration.warehouse import connect

    settings = load_settings()
    started = time.perf_counter()
    report = run_pipeline(settings)
    in_process = time.perf_counter() - started
    with connect(settings.warehouse, read_only=True) as con:
        returns, accepted = con.execute("SELECT count(*), count(*) FILTER (status <> 'rejected') FROM ops.submissions").fetchone()
        rows = con.execute("SELECT count(*) FROM raw.placements").fetchone()[0]
    seconds = report.seconds
    return {
        "exit_code": report.exit_code,
        "returns": returns,
        "accepted": accepted,
        "rows": rows,
        "months_built": len(report.months_built),
        "run_s": round(in_process, 2),
        "ingest_s": round(seconds.get("ingest_returns", 0), 2),
        "dbt_s": round(seconds.get("fostering_dbt_models", 0) + seconds.get("fostering_dbt_monthly", 0), 2),
        "gate_s": round(seconds.get("quality_gate", 0), 2),
        "publish_s": round(seconds.get("published_marts", 0), 2),
        "instance_s": round(report.instance_seconds, 2),
        "warehouse_mb": round(settings.warehouse.stat().st_size / 1e6, 1),
    }


def stage_parser(module: str, doc: str, work_help: str) -> argparse.ArgumentParser:
    """The options every pipeline stage takes: the history, its work folder, and `--prepare-only`."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--work", type=Path, required=True, help=work_help)
    parser.add_argument("--prepare-only", action="store_true", help="set the work folder up, and stop (not measured)")
    return parser


def emit(counters: dict) -> None:
    print(json.dumps(counters))
    sys.stdout.flush()
