"""A report carries the hub and LA pages whose inputs did not change from the latest version's report.

Each test copies the publish of three LAs that `tests.test_report` builds (Trafford in
Greater Manchester; Reading and Wokingham in the South East fostering hub) into publish
folders of its own as versions, changes some figures of a copy (its Parquet file and the
checksum in its manifest), builds the reports, and compares them with reports of the same
versions built from scratch (in a folder with no other version).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from functools import reduce
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from orchestration.publish.writer import publish as write_publish
from orchestration.report import ReportError, build, build_report
from orchestration.report.data import read_publish
from orchestration.report.inputs import PageData
from tests.test_report import published_report

V1, V2, V3 = "20240501T010000Z", "20240502T010000Z", "20240503T010000Z"
INDEX = "index.html"
READING, TRAFFORD, WOKINGHAM = "la/reading.html", "la/trafford.html", "la/wokingham.html"
SOUTH_EAST, MANCHESTER = "hub/south-east-fostering-hub.html", "hub/greater-manchester.html"
EVERY_PAGE = {INDEX, READING, TRAFFORD, WOKINGHAM, SOUTH_EAST, MANCHESTER}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The publish version folder of three LAs (its report is left behind when copied)."""
    _, version_dir = published_report(tmp_path_factory)
    return version_dir


# --- making versions ----------------------------------------------------------------------------


def _version(source: Path, publish_dir: Path, name: str, latest: bool = False) -> Path:
    """A copy of the publish `source`, without its report, as version `name` of `publish_dir`."""
    target = publish_dir / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("report", ".report*"))
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = name
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if latest:
        _make_latest(publish_dir, name)
    return target


def _make_latest(publish_dir: Path, name: str) -> None:
    link = publish_dir / "latest"
    if link.is_symlink():
        link.unlink()
    os.symlink(name, link)


def _manifest(version: Path, edit) -> None:
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (version / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _change(version: Path, mart: str, column: str, by: float, **where) -> None:
    """Add `by` to `column` of the rows of `mart` matching `where` (published, not withheld), as a new publish would."""
    path = version / f"{mart}.parquet"
    table = pq.read_table(path)
    match = reduce(pc.and_, [pc.fill_null(pc.equal(table[c], pa.scalar(v)), False) for c, v in where.items()])
    assert pc.sum(pc.and_(match, pc.is_valid(table[column]))).as_py() > 0, (mart, column, where)
    values = table[column]
    changed = pc.if_else(match, pc.add(values, pa.scalar(by).cast(values.type)), values)
    table = table.set_column(table.schema.get_field_index(column), table.schema.field(column), changed)
    pq.write_table(table, path)
    data = path.read_bytes()

    def edit(manifest):
        entry = next(m for m in manifest["marts"] if m["name"] == mart)
        entry["files"]["parquet"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))

    _manifest(version, edit)


def _change_reading(version: Path, benchmark: bool = True) -> None:
    """Reading's figures change: its children looked after, and (as the marts would) its benchmark values."""
    _change(version, "mart_sufficiency", "children_looked_after", 7, la_name="Reading")
    if benchmark:
        _change(version, "mart_benchmark", "value", 0.5, la_name="Reading", metric="cla_rate_per_10k")


# --- reading reports ----------------------------------------------------------------------------


def _pages(version: Path) -> dict[str, Path]:
    report = version / "report"
    return {p.relative_to(report).as_posix(): p for p in sorted(report.rglob("*.html"))}


def _listing(version: Path) -> dict:
    return json.loads((version / "report" / "pages.json").read_text(encoding="utf-8"))


def _carried(version: Path) -> set[str]:
    return {name for name, entry in _listing(version)["pages"].items() if entry["carried_from"]}


def _from_scratch(version: Path, tmp_path: Path) -> Path:
    """The same version's report built in a publish folder of its own (nothing to carry)."""
    alone = tmp_path / "scratch" / version.name
    shutil.copytree(version, alone, ignore=shutil.ignore_patterns("report", ".report*"))
    result = build_report(alone)
    assert result.carried == 0 and result.rendered == len(result.pages) == len(EVERY_PAGE)
    return alone


def _same_as_from_scratch(version: Path, tmp_path: Path) -> None:
    """Every page of `version`'s report is, byte for byte, the page a build from scratch writes."""
    scratch = _from_scratch(version, tmp_path)
    ours, theirs = _pages(version), _pages(scratch)
    assert set(ours) == set(theirs) == EVERY_PAGE
    for name in ours:
        assert ours[name].read_bytes() == theirs[name].read_bytes(), name
    # and the listing records the same pages, but for which were carried
    strip = lambda listing: {n: {k: v for k, v in e.items() if k != "carried_from"} for n, e in listing["pages"].items()}  # noqa: E731
    assert strip(_listing(version)) == strip(_listing(scratch))


def _linked(new: Path, old: Path) -> bool:
    a, b = new.stat(), old.stat()
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


# --- the tests ----------------------------------------------------------------------------------


def test_a_report_with_carried_pages_equals_one_built_from_scratch(source, tmp_path):
    publish_dir = tmp_path / "published"
    first = _version(source, publish_dir, V1, latest=True)
    built = build_report(first)
    assert (built.rendered, built.carried, built.carried_from) == (len(EVERY_PAGE), 0, None)
    assert set(_listing(first)["pages"]) == EVERY_PAGE and _carried(first) == set()

    # nothing changed: every page but the overview is carried
    second = _version(source, publish_dir, V2)
    built = build_report(second)
    assert (built.rendered, built.carried, built.carried_from) == (1, len(EVERY_PAGE) - 1, V1)
    assert built.charts == build_report(first).charts  # carried pages count their charts too
    assert _carried(second) == EVERY_PAGE - {INDEX}
    _same_as_from_scratch(second, tmp_path / "2")
    assert V2 in (second / "report" / INDEX).read_text(encoding="utf-8")  # the overview names its own publish
    for name, page in _pages(second).items():
        assert V1 not in page.read_text(encoding="utf-8"), name  # no carried page names the version it came from

    # one LA changed, carried from the second version
    _make_latest(publish_dir, V2)
    third = _version(source, publish_dir, V3)
    _change_reading(third)
    built = build_report(third)
    assert built.carried_from == V2 and _carried(third) == {TRAFFORD, WOKINGHAM, MANCHESTER}
    _same_as_from_scratch(third, tmp_path / "3")


@pytest.mark.parametrize("benchmark", [False, True], ids=["sufficiency", "sufficiency-and-benchmark"])
def test_only_the_pages_showing_the_changed_las_figures_are_rendered(source, tmp_path, benchmark):
    publish_dir = tmp_path / "published"
    first = _version(source, publish_dir, V1, latest=True)
    build_report(first)
    second = _version(source, publish_dir, V2)
    _change_reading(second, benchmark=benchmark)
    built = build_report(second)

    # the hub page shows Reading's benchmark figures, not its mart_sufficiency rows
    rendered = {INDEX, READING, SOUTH_EAST} if benchmark else {INDEX, READING}
    assert (built.rendered, built.carried, built.carried_from) == (len(rendered), len(EVERY_PAGE) - len(rendered), V1)
    assert _carried(second) == EVERY_PAGE - rendered
    old, new = _pages(first), _pages(second)
    for name in EVERY_PAGE:
        assert _linked(new[name], old[name]) == (name not in rendered), name
        assert (new[name].read_bytes() == old[name].read_bytes()) == (name not in rendered), name
    assert _listing(second)["pages"][READING]["inputs"] != _listing(first)["pages"][READING]["inputs"]
    _same_as_from_scratch(second, tmp_path)


def _hub_comparator(version: Path) -> None:  # the hub's median of one metric, shown on the hub's page
    _change(version, "mart_benchmark", "group_median", 0.01, group_type="hub", group_name="Greater Manchester",
            metric="place_utilisation")


def _national_comparator(version: Path) -> None:  # England's median and quartile (group "all"): on no hub or LA page
    _change(version, "mart_benchmark", "group_median", 0.01, group_type="all", metric="place_utilisation")
    _change(version, "mart_benchmark", "group_q1", 0.01, group_type="all", metric="place_utilisation")


def _regional_comparator(version: Path) -> None:  # likewise the region's
    _change(version, "mart_benchmark", "group_median", 0.01, group_type="region", metric="in_area_share")


def _threshold(version: Path) -> None:  # every page says what is withheld, and legends say "fewer than n children"
    _manifest(version, lambda m: m["disclosure"].update(threshold=m["disclosure"]["threshold"] + 1))


@pytest.mark.parametrize(
    ("change", "rendered"),
    [
        (_hub_comparator, {INDEX, MANCHESTER}),
        (_national_comparator, {INDEX}),
        (_regional_comparator, {INDEX}),
        (_threshold, EVERY_PAGE),
    ],
    ids=["hub-comparator", "national-comparator", "regional-comparator", "threshold"],
)
def test_a_changed_comparator_or_threshold_renders_every_page_that_shows_it(source, tmp_path, change, rendered):
    publish_dir = tmp_path / "published"
    build_report(_version(source, publish_dir, V1, latest=True))
    second = _version(source, publish_dir, V2)
    change(second)
    built = build_report(second)
    assert built.rendered == len(rendered) and EVERY_PAGE - _carried(second) == rendered
    _same_as_from_scratch(second, tmp_path)


def test_a_change_to_the_reports_code_renders_every_page(source, tmp_path, monkeypatch):
    publish_dir = tmp_path / "published"
    build_report(_version(source, publish_dir, V1, latest=True))
    monkeypatch.setattr(build, "code_fingerprint", lambda: "0" * 64)  # as a change to any module of orchestration/report
    built = build_report(_version(source, publish_dir, V2))
    assert (built.rendered, built.carried) == (len(EVERY_PAGE), 0)


def _no_listing(report: Path) -> set[str]:
    (report / "pages.json").unlink()
    return EVERY_PAGE


def _garbled_listing(report: Path) -> set[str]:
    (report / "pages.json").write_text('{"format": 1, "pages": {"la/reading.ht', encoding="utf-8")
    return EVERY_PAGE


def _listing_of_another_shape(report: Path) -> set[str]:
    (report / "pages.json").write_text('{"format": 1, "pages": ["la/reading.html"]}', encoding="utf-8")
    return EVERY_PAGE


def _odd_entries(report: Path) -> set[str]:
    listing = json.loads((report / "pages.json").read_text(encoding="utf-8"))
    listing["pages"][READING] = "carried"
    listing["pages"][TRAFFORD]["charts"] = "ten"
    listing["pages"][WOKINGHAM].pop("sha256")
    (report / "pages.json").write_text(json.dumps(listing), encoding="utf-8")
    return {INDEX, READING, TRAFFORD, WOKINGHAM}


def _listing_of_another_format(report: Path) -> set[str]:
    listing = json.loads((report / "pages.json").read_text(encoding="utf-8"))
    listing["format"] = 99
    (report / "pages.json").write_text(json.dumps(listing), encoding="utf-8")
    return EVERY_PAGE


def _missing_page(report: Path) -> set[str]:
    (report / READING).unlink()
    return {INDEX, READING}


def _edited_page(report: Path) -> set[str]:  # the same size, other bytes
    page = report / TRAFFORD
    data = bytearray(page.read_bytes())
    data[-20] ^= 1
    page.write_bytes(bytes(data))
    return {INDEX, TRAFFORD}


def _truncated_page(report: Path) -> set[str]:
    page = report / MANCHESTER
    page.write_bytes(page.read_bytes()[:1000])
    return {INDEX, MANCHESTER}


def _page_replaced_by_a_link(report: Path) -> set[str]:
    page = report / WOKINGHAM
    copy = report.parent / "wokingham-copy.html"
    shutil.copy(page, copy)
    page.unlink()
    os.symlink(copy, page)
    return {INDEX, WOKINGHAM}


def _no_previous_report(report: Path) -> set[str]:
    shutil.rmtree(report)
    return EVERY_PAGE


def _no_latest(report: Path) -> set[str]:
    (report.parent.parent / "latest").unlink()
    return EVERY_PAGE


@pytest.mark.parametrize(
    "damage",
    [_no_listing, _garbled_listing, _listing_of_another_shape, _listing_of_another_format, _odd_entries, _missing_page,
     _edited_page, _truncated_page, _page_replaced_by_a_link, _no_previous_report, _no_latest],
)
def test_a_missing_or_damaged_previous_report_means_rendering(source, tmp_path, damage):
    publish_dir = tmp_path / "published"
    first = _version(source, publish_dir, V1, latest=True)
    build_report(first)
    rendered = damage(first / "report")
    second = _version(source, publish_dir, V2)
    built = build_report(second)
    assert built.rendered == len(rendered) and EVERY_PAGE - _carried(second) == rendered
    _same_as_from_scratch(second, tmp_path)
    assert not [p for p in second.iterdir() if p.name.startswith(".report")]  # no temporary folder left


def test_where_linking_fails_pages_are_copied(source, tmp_path, monkeypatch):
    publish_dir = tmp_path / "published"
    first = _version(source, publish_dir, V1, latest=True)
    build_report(first)

    def no_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(build.os, "link", no_links)
    second = _version(source, publish_dir, V2)
    built = build_report(second)
    assert (built.rendered, built.carried) == (1, len(EVERY_PAGE) - 1)
    old, new = _pages(first), _pages(second)
    for name in EVERY_PAGE - {INDEX}:
        assert not _linked(new[name], old[name]) and new[name].read_bytes() == old[name].read_bytes(), name


def test_rebuilding_a_versions_report_carries_its_own_pages(source, tmp_path):
    """`fostering report` on the latest version: its pages are their own inputs' pages, kept (the same files)."""
    publish_dir = tmp_path / "published"
    first = _version(source, publish_dir, V1, latest=True)
    build_report(first)
    before = {name: page.stat().st_ino for name, page in _pages(first).items()}
    built = build_report(first)
    assert (built.rendered, built.carried, built.carried_from) == (1, len(EVERY_PAGE) - 1, V1)
    after = _pages(first)
    assert all((after[name].stat().st_ino == before[name]) == (name != INDEX) for name in EVERY_PAGE)
    _same_as_from_scratch(first, tmp_path)


def test_a_publish_carries_the_report_pages_of_the_version_it_follows(source, tmp_path_factory, tmp_path):
    """In a publish the report is built in the staging folder, before `latest` moves: `latest` is the previous version."""
    root, _ = published_report(tmp_path_factory)
    warehouse, publish_dir = root / "data" / "warehouse.duckdb", tmp_path / "published"
    results = []
    for day in (1, 2):
        now = dt.datetime(2024, 5, day, 1, tzinfo=dt.timezone.utc)
        results.append(write_publish(warehouse, publish_dir, keep=5, threshold=5, now=now,
                                     finish=lambda folder: results.append(build_report(folder))))
    first_report, first, second_report, second = results
    assert (first_report.rendered, first_report.carried) == (len(EVERY_PAGE), 0)
    assert (second_report.rendered, second_report.carried, second_report.carried_from) == (1, len(EVERY_PAGE) - 1, first.version)
    old, new = _pages(first.path), _pages(second.path)
    assert all(_linked(new[name], old[name]) for name in EVERY_PAGE - {INDEX})
    _same_as_from_scratch(second.path, tmp_path)


def test_a_page_cannot_read_a_mart_it_does_not_declare(source):
    publish = read_publish(source)
    data = PageData("la/reading.html", publish.threshold, {"mart_sufficiency": publish.mart("mart_sufficiency").slice([0])})
    assert data.has("mart_sufficiency") and not data.has("mart_benchmark")
    with pytest.raises(ReportError, match="mart_benchmark, which is not among the marts its page declares"):
        data.mart("mart_benchmark")
