"""The one DbtProject: where the dbt project lives and how its manifest is prepared.

The manifest is never built at import time. `prepare_manifest()` is called by
the `fostering` command, by `make` and by the tests before anything imports
the dbt assets, and rebuilds it only when a dbt file is newer than it.

dagster_dbt (and dbt-core with it) takes about 3 s to import, so it is imported
only when a `DbtProject` or the dbt CLI is needed: a run with nothing to do
(`orchestration.up_to_date`) never loads it.
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from dagster_dbt import DbtCliResource, DbtProject

DBT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST_PATH = DBT_DIR / "target" / "manifest.json"  # where DbtProject puts it: its target_path is target/


@functools.cache
def _project() -> DbtProject:
    from dagster_dbt import DbtProject

    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def __getattr__(name: str):
    if name == "dbt_project":  # the one DbtProject, made on first use
        return _project()
    raise AttributeError(name)

# The dbt installed beside this Python (the project's .venv), so `.venv/bin/fostering`
# works without the virtualenv being activated; else whatever `dbt` is on PATH.
_BESIDE = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE) if _BESIDE.exists() else (shutil.which("dbt") or "dbt")


def dbt_cli() -> DbtCliResource:
    from orchestration.dbt_cli import FosteringDbtCli

    return FosteringDbtCli(project_dir=_project(), dbt_executable=DBT_EXECUTABLE)


def dbt_run_paths(data_dir: Path) -> tuple[Path, Path]:
    """Where a run's dbt artifacts and dbt's own log go: under the data folder, the same each run.

    Absolute (dbt runs in DBT_DIR), and outside the dbt project, so runs leave
    nothing behind in it; only `prepare_manifest` writes its target/ folder.
    """
    base = Path(data_dir).absolute() / "dbt"
    return base / "target", base / "logs"


def _sources() -> list[Path]:
    folders = ("models", "macros", "seeds", "tests")
    files = [p for f in folders if (DBT_DIR / f).exists() for p in (DBT_DIR / f).rglob("*") if p.is_file()]
    return [*files, DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]


def manifest_is_stale() -> bool:
    manifest = MANIFEST_PATH
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _sources())


def prepare_manifest(force: bool = False) -> Path:
    """Run `dbt parse` if the manifest is missing or older than the dbt files; return its path."""
    if force or manifest_is_stale():
        dbt_cli().cli(["parse", "--quiet"], target_path=_project().target_path).wait()
    return MANIFEST_PATH
