"""A digest of the code and libraries that a written file's bytes depend on.

The publish carries a mart's files (decision Q13) and the report carries a page (Q14) from
an earlier version only when their inputs are unchanged *and* the code that writes them is:
this digest stands for the code. A change to a listed source file, the pipeline's version,
Python or the data libraries changes it, so a file written the old way is never carried.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration import __version__


def code_digest(sources: Iterable[Path], **described) -> str | None:
    """sha256 of `sources`' contents, the pipeline's version, Python, numpy, pandas, pyarrow and
    `described` (the writer's own options); None (carry nothing) when a source cannot be read."""
    try:
        hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sources}
    except OSError:
        return None
    described = {
        **described,
        "sources": hashes,
        "pipeline_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()
