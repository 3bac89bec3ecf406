"""Benchmarks of the pipeline at national scale (issue 6): see bench/README.md.

`python -m bench.run <stage> ...` measures one stage as a whole process;
each stage is a module here (`floor`: read every file of a history into memory).
"""
