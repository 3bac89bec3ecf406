"""Plain errors, settings checked once, paths made absolute once, nothing left behind (issue 12).

Through the installed `fostering` command, as a user types it: an error a user
can cause ends in one sentence on stderr and an exit status, never a traceback
(`fostering --debug` shows it).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.returns.writers import write_return
from orchestration.settings import ConfigurationError, load_settings
from tests.conftest import PROJECT_ROOT
from tests.fixtures.returns import good_tables

FOSTERING = [str(Path(sys.executable).parent / "fostering")]
DBT_DIR = PROJECT_ROOT / "dbt_project"


def fostering(*args, env=None, cwd=PROJECT_ROOT):
    run_env = {**os.environ, **(env or {})}
    return subprocess.run([*FOSTERING, *map(str, args)], capture_output=True, text=True, env=run_env, cwd=cwd)


# What progress says on stderr while a command works (orchestration/progress.py): a stage
# starting ("…"), done or failed with its time, a counter's count, the instance opened.
PROGRESS = re.compile(r"^(Dagster instance .+ open in [\d.]+s.*|[^:]+(: [^:]+)?…|.+: (done in|failed after) [\dhms.]+"
                      r"|.+: \d+(/\d+)? [a-z ]+( · [\d.]+/s)?( · about [\dhms.]+ left)?|.+: \d+ [a-z ]+ in [\dhms.]+)$")


def plain(result, code: int) -> str:
    """The command exited `code` with one error line on stderr (after any progress lines) and no traceback anywhere; that line."""
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    said = [line for line in lines if not PROGRESS.match(line)]
    assert len(said) == 1 and said[0] == lines[-1] and said[0].startswith("fostering"), result.stderr
    return lines[-1]


BAD = {
    "FOSTERING_PUBLISH_KEEP": "five",
    "FOSTERING_SWING_THRESHOLD": "2",
    "FOSTERING_TIMEZONE": "Mars/Olympus",
    "FOSTERING_FIRST_PERIOD": "2016-13",
    "FOSTERING_PUBLISH_CRON": "every day",
    "FOSTERING_DUCKDB_MEMORY_LIMIT": "lots",
    "FOSTERING_ENV": "prod",
    "FOSTERING_SENSOR_INTERVAL_SECONDS": "0",
}


def test_load_settings_names_every_bad_setting_at_once_and_makes_paths_absolute(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError) as raised:
        load_settings(BAD)
    message = str(raised.value)
    assert all(name in message for name in BAD), message
    assert "FOSTERING_PUBLISH_KEEP must be a whole number (found 'five')" in message
    assert "FOSTERING_SWING_THRESHOLD must be a number between 0 and 1 (found '2')" in message

    good = load_settings({"FOSTERING_PUBLISH_CRON": "0 5 * * 1", "FOSTERING_DUCKDB_MEMORY_LIMIT": "512MB", "FOSTERING_ENV": "Production"})
    assert (good.publish_cron, good.duckdb_memory_limit, good.environment) == ("0 5 * * 1", "512MB", "production")

    monkeypatch.chdir(tmp_path)
    settings = load_settings({"FOSTERING_WAREHOUSE": "t1/wh.duckdb", "FOSTERING_LANDING": "in", "FOSTERING_REFERENCE_DIR": "ref"})
    assert settings.warehouse == tmp_path / "t1" / "wh.duckdb"
    assert (settings.data_dir, settings.publish_dir) == (tmp_path / "t1", tmp_path / "t1" / "published")
    assert (settings.landing, settings.reference_dir) == (tmp_path / "in", tmp_path / "ref")
    paths = [v for v in vars(settings).values() if isinstance(v, Path)]
    assert len(paths) == 7 and all(p.is_absolute() for p in paths)
    assert settings.with_overrides(publish_dir="out").publish_dir == tmp_path / "out"


def test_a_malformed_setting_stops_every_command_with_one_plain_message(tmp_path, good_return):
    for args in (["status"], ["validate", good_return], ["run", "--warehouse", tmp_path / "w.duckdb"]):
        line = plain(fostering(*args, env=BAD), 2)
        assert line.startswith(f"fostering {args[0]}: FOSTERING_") and all(name in line for name in BAD), line
    assert not (tmp_path / "w.duckdb").exists()
    # --help still works, and --debug shows where the error came from
    assert fostering("run", "--help", env=BAD).returncode == 0
    debug = fostering("--debug", "status", env=BAD)
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "FOSTERING_PUBLISH_KEEP" in debug.stderr


def test_exit_codes_are_in_the_help():
    for args in ([], ["run"], ["validate"], ["backfill"]):
        text = fostering(*args, "--help").stdout
        assert "Exit status:" in text and "3  the pipeline could not finish" in text and "--debug" in text, text


def test_an_unknown_contract_version_is_a_usage_error_naming_the_known_ones(tmp_path):
    result = fostering("template", tmp_path / "blank.xlsx", "--version", "9.9")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "no contract version 9.9" in result.stderr and "1.0" in result.stderr
    assert not (tmp_path / "blank.xlsx").exists()


def test_missing_paths_are_usage_errors(tmp_path, good_return):
    missing = tmp_path / "nonexistent"
    for how in ({"args": ["--landing", missing]}, {"env": {"FOSTERING_LANDING": str(missing)}}):
        result = fostering("run", "--warehouse", tmp_path / "w.duckdb", *how.get("args", []), env=how.get("env"))
        line = plain(result, 2)
        assert f"the landing folder {missing} does not exist" in line and "FOSTERING_LANDING" in line
    assert not (tmp_path / "w.duckdb").exists()

    result = fostering("validate", tmp_path / "missing.xlsx")
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert "FILE-NOT-A-RETURN" not in result.stdout


def test_validate_walks_a_folder_and_says_what_it_passed_over(landing, good_return):
    (landing / "notes.txt").write_text("not a return")
    (landing / "old.xls").write_bytes(b"old")
    text = fostering("validate", landing)
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"{landing / 'old.xls'}: an old-format Excel file" in text.stdout and str(landing / "notes.txt") in text.stdout
    assert "1 return(s) checked" in text.stdout and "2 other file(s) ignored" in text.stdout
    as_json = fostering("validate", landing, "--format", "json")
    assert [Path(r["path"]).name for r in json.loads(as_json.stdout)] == ["2023-09.zip"]  # still a list of returns
    assert "old.xls" in as_json.stderr


def test_a_path_it_cannot_write_is_one_sentence_and_exit_3(tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    out = tmp_path / "afile" / "blank.xlsx"
    line = plain(fostering("template", out), 3)
    assert line.startswith(f"fostering template: cannot write to {tmp_path / 'afile'}") and "--debug" in line, line
    debug = fostering("--debug", "template", out)
    assert debug.returncode == 3 and "Traceback" in debug.stderr


def _dbt_project_entries() -> tuple[set[str], set[str]]:
    """What is in dbt_project/, and the folders in its target/ (prepare_manifest's files may change)."""
    target = DBT_DIR / "target"
    return {p.name for p in DBT_DIR.iterdir()}, {p.name for p in target.iterdir() if p.is_dir()} if target.exists() else set()


@pytest.mark.slow
def test_unwritable_publish_folder_then_relative_paths_from_another_folder(tmp_path):
    """A publish folder it cannot write: one line, exit 3, the returns kept. Then relative paths from
    the current folder (not dbt's): the rerun publishes, all under tmp_path, nothing left in dbt_project/."""
    write_return(good_tables(), tmp_path / "landing" / "x.zip", "zip")
    (tmp_path / "afile").write_text("a file where the publish folder's parent should be")
    shutil.copytree(DBT_DIR / "seeds", tmp_path / "ref")  # a relative FOSTERING_REFERENCE_DIR, read by dbt too
    env = {"FOSTERING_REFERENCE_DIR": "ref"}
    before = _dbt_project_entries()

    failed = fostering("run", "--landing", "landing", "--warehouse", "t1/wh.duckdb", "--publish-dir", "afile/published", env=env, cwd=tmp_path)
    line = plain(failed, 3)
    assert f"cannot write to {tmp_path / 'afile' / 'published'}" in line and "FOSTERING_PUBLISH_DIR" in line, line
    assert f"the log is {tmp_path / 't1' / 'logs'}" in line
    with duckdb.connect(str(tmp_path / "t1" / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.submissions WHERE status = 'accepted'").fetchone()[0] == 1

    rerun = fostering("run", "--landing", "landing", "--warehouse", "t1/wh.duckdb", env=env, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "Traceback" not in rerun.stderr and "Published version" in rerun.stdout
    assert "1 already received" in rerun.stdout
    with duckdb.connect(str(tmp_path / "t1" / "wh.duckdb"), read_only=True) as con:
        marts = {n for (n,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()}
        assert con.execute("SELECT count(*) FROM marts.mart_sufficiency").fetchone()[0] > 0
    assert "mart_sufficiency" in marts
    assert (tmp_path / "t1" / "published" / "latest").exists()
    assert (tmp_path / "t1" / "dbt" / "target" / "run_results.json").exists()  # dbt's artifacts, under the data folder
    names, folders = _dbt_project_entries()
    assert names <= before[0] | {"target"} and folders <= before[1], (names - before[0], folders - before[1])
