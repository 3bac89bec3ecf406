"""Fostering Sufficiency Pipeline: the Python package and Dagster code location."""

__version__ = "0.1.0"
