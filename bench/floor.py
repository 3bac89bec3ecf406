"""The floor: read every file of a history into memory with the fastest reader, and nothing else.

No validation, no writes: what any ingest of the history must at least spend.
The returns are found as the pipeline finds them (`landing.discover`: every
XLSX, every ZIP, every folder of CSV files; dot-folders such as `.reference`
are passed over), then read in a pool of threads, one return per task:

- CSV files (a folder's, or a ZIP's members) with pyarrow's multi-threaded
  CSV reader, into Arrow tables (types inferred, as pyarrow does by default);
- XLSX workbooks with python-calamine, every sheet into Python rows
  (fastexcel, which gives Arrow, is used instead when it is installed);
- or, with `--reader duckdb`, every CSV file of one table name across the
  history in one DuckDB `read_csv` (a comparison: slower on many small files).

`--hold all` (the default) keeps every table in memory to the end, so the
peak memory is the whole history in memory; `--hold none` drops each return
once read, so it is the reader's own working set.

Run as `python -m bench.floor HISTORY [--reader R] [--hold H]`; prints one
JSON line: returns, files, rows, bytes and the reading time within the process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestration.returns.landing import discover

READERS = ("auto", "duckdb")


def read_history(
    root: Path, reader: str = "auto", hold: str = "all", threads: int | None = None, month: str | None = None, until: str | None = None
) -> dict:
    """Read every return under `root` (of one month, or up to a month, if given); counters of what was read."""
    started = time.perf_counter()
    returns, _ = discover(root)
    returns = [r for r in returns if (not month or r.name[:7] == month) and (not until or r.name[:7] <= until)]
    if reader == "duckdb":
        counts, held = _read_duckdb(returns)
    else:
        with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
            held = []
            counts = {"files": 0, "rows": 0, "bytes": 0}
            for files, rows, size, tables in pool.map(_read_return, returns):
                counts["files"] += files
                counts["rows"] += rows
                counts["bytes"] += size
                if hold == "all":
                    held.append(tables)
    return {
        "returns": len(returns),
        **counts,
        "read_s": round(time.perf_counter() - started, 3),
        "reader": _reader_names(returns, reader),
        "hold": hold,
        "held": len(held),
    }


def _read_return(path: Path) -> tuple[int, int, int, list]:
    """(files, data rows, bytes on disk, the tables) of one return."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
        tables = [_csv(p) for p in files]
        return len(files), sum(t.num_rows for t in tables), sum(p.stat().st_size for p in files), tables
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            tables = [_csv(io.BytesIO(archive.read(n))) for n in archive.namelist() if n.lower().endswith(".csv")]
        return 1, sum(t.num_rows for t in tables), path.stat().st_size, tables
    tables = _xlsx(path)
    return 1, sum(_rows(t) for t in tables), path.stat().st_size, tables


def _csv(source):
    import pyarrow.csv

    return pyarrow.csv.read_csv(source)


def _xlsx(path: Path) -> list:
    try:
        import fastexcel
    except ImportError:
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(path))
        return [workbook.get_sheet_by_name(name).to_python()[1:] for name in workbook.sheet_names]
    reader = fastexcel.read_excel(str(path))
    return [reader.load_sheet_by_name(name).to_arrow() for name in reader.sheet_names]


def _rows(table) -> int:
    return table.num_rows if hasattr(table, "num_rows") else len(table)


def _read_duckdb(returns: list[Path]) -> tuple[dict, list]:
    """Every CSV file of one name (one table) across the history, read by one DuckDB statement."""
    import duckdb

    by_table: dict[str, list[str]] = {}
    for path in returns:
        if not path.is_dir():
            raise SystemExit(f"--reader duckdb reads folders of CSV files only, not {path}")
        for member in sorted(path.glob("*.csv")):
            by_table.setdefault(member.name, []).append(str(member))
    con = duckdb.connect()
    held = [con.sql("select * from read_csv($files)", params={"files": files}).to_arrow_table() for files in by_table.values()]
    files = [f for names in by_table.values() for f in names]
    counts = {"files": len(files), "rows": sum(t.num_rows for t in held), "bytes": sum(os.path.getsize(f) for f in files)}
    return counts, held


def _reader_names(returns: list[Path], reader: str) -> str:
    if reader == "duckdb":
        return "duckdb read_csv"
    forms = {"xlsx" if p.suffix.lower() in (".xlsx", ".xlsm") else "csv" for p in returns}
    names = []
    if "csv" in forms:
        names.append("pyarrow.csv")
    if "xlsx" in forms:
        try:
            import fastexcel  # noqa: F401

            names.append("fastexcel")
        except ImportError:
            names.append("python-calamine")
    return " + ".join(names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--reader", choices=READERS, default="auto")
    parser.add_argument("--hold", choices=("all", "none"), default="all")
    parser.add_argument("--threads", type=int, help="Returns read at once (default: one per core).")
    parser.add_argument("--month", help="Only the returns of this reporting month (YYYY-MM): an incremental month's floor.")
    parser.add_argument("--until", help="Only the returns of months up to this one (YYYY-MM).")
    args = parser.parse_args(argv)
    if not args.history.is_dir():
        parser.error(f"{args.history} is not a folder")
    print(json.dumps(read_history(args.history, args.reader, args.hold, args.threads, args.month, args.until)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
