"""Every return's findings are the ones the validator gave before its rules became data.

The baseline (tests/fixtures/findings_baseline.py) holds 671 returns: every
broken case in every form, 300 seeded returns that break the contract's rules
at random, and the whole bundled sample. They are validated here in one batch,
as ingest does, and compared field by field, finding by finding, in order.
"""

import pytest

from tests.fixtures import findings_baseline


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    paths = findings_baseline.returns_to_check(tmp_path_factory.mktemp("baseline"))
    return findings_baseline.findings_of(paths, batch=True)


@pytest.mark.slow
def test_every_return_has_the_findings_it_had_before(found):
    before = findings_baseline.load()
    assert sorted(found) == sorted(before)
    changed = [name for name in before if found[name] != before[name]]
    assert not changed, f"{len(changed)} returns changed, e.g. {changed[0]}: {found[changed[0]]} != {before[changed[0]]}"
