"""What machine a measurement ran on: CPU model, cores, memory, OS, Python and the readers' versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata


def describe() -> dict[str, str]:
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_mem_total_gb():.0f} GB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{name: _version(name) for name in ("duckdb", "pyarrow", "python-calamine", "fastexcel", "pandas")},
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def markdown(machine: dict[str, str]) -> str:
    return "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items())


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
