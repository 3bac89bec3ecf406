"""Reference data is one copy: the dbt seeds agree with the contract's code lists."""

import pandas as pd
import pytest

from orchestration.dbt_project import DBT_DIR
from orchestration.returns.schema import load_contract

SEEDS = DBT_DIR / "seeds"


@pytest.mark.parametrize(("seed", "column", "code_list"), [("need_categories", "need_category", "need_category"), ("cost_lines", "cost_line", "cost_line")])
def test_seed_codes_are_the_contract_codes(seed, column, code_list):
    codes = pd.read_csv(SEEDS / f"{seed}.csv", dtype=str)[column].tolist()
    assert codes == list(load_contract().code_lists[code_list].codes)


def test_every_placement_category_has_a_cost_range():
    categories = set(pd.read_csv(SEEDS / "placement_categories.csv", dtype=str)["category"])
    assert categories == set(pd.read_csv(SEEDS / "cost_ranges.csv", dtype=str)["category"])


def test_the_placement_mapping_gives_one_category_per_code_and_provider():
    mapping = pd.read_csv(SEEDS / "placement_categories.csv", dtype=str, keep_default_na=False)
    assert not mapping.duplicated(["placement_type", "placement_provider"]).any()
    # a code has either one any-provider row or provider-specific rows, never both
    kinds = mapping.assign(any=mapping["placement_provider"] == "").groupby("placement_type")["any"].agg(["any", "all"])
    assert (kinds["any"] == kinds["all"]).all()


def test_benchmark_metrics_directions():
    metrics = pd.read_csv(SEEDS / "benchmark_metrics.csv", dtype=str)
    assert set(metrics["better"]) <= {"higher", "lower", "none"}
    assert len(metrics) == 9
