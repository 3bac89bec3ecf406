"""The quality gate: Great Expectations suites (expectations/*.json) run on the warehouse before a publish."""

from orchestration.quality.gate import (
    ExpectationOutcome,
    Suite,
    SuiteOutcome,
    gate_parameters,
    load_suites,
    run_gate,
    run_suite,
)

__all__ = ["ExpectationOutcome", "Suite", "SuiteOutcome", "gate_parameters", "load_suites", "run_gate", "run_suite"]
