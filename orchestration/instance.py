"""The one Dagster instance a data folder keeps: `fostering run`, the sensors and `make dev` share it.

With an ephemeral instance per `fostering run`, the Dagster UI said every asset
had never been materialised after `make run`, and runs and sensor switches
vanished when `dagster dev` restarted. Now the instance lives in
`<data folder>/dagster` (DAGSTER_HOME), on SQLite, with:

- telemetry and the "new user" prompts off;
- the pool limit of `deploy/dagster.yaml` (the warehouse pool, one step at a
  time across runs: DuckDB has one writer);
- run monitoring, which frees a finished run's pool slots.

`dagster.yaml` there is written by `prepare_home` and rewritten only when what it
should say changes, so an operator's own instance (an existing DAGSTER_HOME with
its own dagster.yaml, such as deploy/dagster.yaml on PostgreSQL) is used as it is.

A `fostering run` killed mid-step leaves its run "started" and its pool slot
claimed, and the next run's step would wait for that slot for ever. The run
lock (`pipeline.one_run_at_a_time`) means no other `fostering run` is alive, so
`close_abandoned_runs` marks any run the command line left started as failed and
frees its slots before a new one starts. Runs launched by the daemon are never
touched: the pool makes the command line wait for them, as it should.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator

import dagster as dg

from orchestration.settings import Settings

LAUNCHED_BY_TAG = "fostering/launched_by"
COMMAND_LINE = "fostering-cli"

INSTANCE_YAML = """\
# Written by `fostering` (orchestration/instance.py) for this data folder's Dagster instance:
# runs, event logs and schedule/sensor state on SQLite in this folder, shared by
# `fostering run`, `make dev` (dagster dev) and its sensors. Rewritten when the code's
# version of it changes; to run a production instance, set DAGSTER_HOME to a folder
# holding deploy/dagster.yaml instead.
# One SQLite event log for every run: about a third faster to write than a file per run.
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {history}
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    # DuckDB has one writer: the steps of the pool "fostering_warehouse" take turns across runs.
    granularity: op
    default_limit: 1
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 60
  poll_interval_seconds: 30
retention:
  sensor:
    purge_after_days:
      skipped: 7
      failure: 90
      success: -1
"""

ABANDONED = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED)


def home_of(settings: Settings) -> Path:
    """DAGSTER_HOME when it is set (an operator's own instance); else the data folder's `dagster/`."""
    explicit = os.environ.get("DAGSTER_HOME")
    return Path(explicit).resolve() if explicit else (settings.data_dir / "dagster").resolve()


def prepare_home(settings: Settings) -> Path:
    """The instance's folder, with our dagster.yaml, unless it holds an operator's own."""
    home = home_of(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text(encoding="utf-8") if config.exists() else None
    operators_own = current is not None and not current.startswith(INSTANCE_YAML.splitlines()[0])
    wanted = INSTANCE_YAML.format(history=json.dumps(str(home / "history")))  # absolute: rewritten if the folder moves
    if not operators_own and current != wanted:
        staging = config.with_name(f"dagster.yaml.{os.getpid()}.tmp")
        staging.write_text(wanted, encoding="utf-8")
        staging.replace(config)
    return home


@contextlib.contextmanager
def data_folder_instance(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The data folder's persistent instance, open for the block."""
    with dg.DagsterInstance.from_config(str(prepare_home(settings))) as instance:
        yield instance


def close_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the command line's runs left started by a killed `fostering run`, freeing their pool slots.

    Call only while holding the run lock: then no `fostering run` is alive, and any
    run of ours still "started" is a dead one.
    """
    closed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=list(ABANDONED), tags={LAUNCHED_BY_TAG: COMMAND_LINE})):
        instance.report_run_failed(run, message="the `fostering run` that started this run ended without finishing it")
        closed.append(run.run_id)
    for run_id in closed:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return closed


def dagster_dev_argv(host: str, port: int) -> list[str]:
    """`dagster dev` for this project's workspace, from the same environment as this command."""
    dagster = Path(sys.executable).with_name("dagster")
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    return [str(dagster), "dev", "-w", str(workspace), "--host", host, "--port", str(port)]
