"""The HTML report of a publish (orchestration/report/), built from a real publish of three LAs.

How "no withheld number appears in the report" is checked, exactly:

1. Every figure the report prints from a mart sits in an element that names its
   published cell: `data-cell="mart|key…|column"` (table cells, tooltips, labels,
   key figures) or `data-sum="cell cell …"` (a total of published cells). Each is
   compared with the published Parquet file: a withheld cell must read "withheld",
   a null one "–", any other the published value to the precision shown; a sum may
   only name published, non-withheld cells and must equal their total.
2. Every other piece of text in the report (text nodes and aria-labels), once
   dates and a short list of fixed phrases ("12 months", "fewer than 6 children")
   are taken out, holds no digit at all. Axis tick labels are the only exception.
   So no number reaches the report except through step 1.
3. For every withheld cell the report refers to, its exact value is read from the
   warehouse, and none of the elements that refer to the cell prints it.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.report import build_report
from orchestration.report.assets import SCRIPT
from tests.conftest import PROJECT_ROOT
from tests.test_cli import fostering

LAS = ("trafford", "reading", "wokingham")  # two hubs; Wokingham has benchmark figures withheld
# The key of each mart's rows, as the report's cell references name them (kept here, not imported,
# so the test checks the report against its own reading of the published files).
KEYS = {
    "mart_sufficiency": ("la_code", "period"),
    "mart_sufficiency_by_need": ("la_code", "period", "need_category"),
    "mart_recruitment": ("la_code", "period", "carer_type"),
    "mart_cost_per_placement": ("la_code", "period", "category"),
    "mart_cost_comparison": ("la_code", "period"),
    "mart_finance": ("la_code", "period", "cost_line"),
    "mart_benchmark": ("group_type", "group_name", "la_code", "period", "metric"),
    "mart_submission_status": ("la_code", "period"),
}
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# Fixed phrases with digits in them; everything else with a digit must be a traced figure.
ALLOWED = [
    rf"\b{MONTH} \d{{4}}\b",  # a month
    r"\b\d{4}/\d{2}\b",  # a financial year
    r"\b12 months\b",
    r"fewer than \d+ children",
    r"\b1 to \d+ children",
    r"\(11 and over\)",
    r"pass 100%",
    r"\(1 = best\)",
]


def published_report(tmp_path_factory) -> tuple[Path, Path]:
    """`fostering run` on three LAs of the bundled sample, then the report of its publish.

    Built once per test session (the browser tests use it too): (root, publish version folder).
    """
    root = tmp_path_factory.getbasetemp() / "report_publish"
    version_dir = root / "data" / "published" / "latest"
    if (root / "built").exists():
        return root, version_dir.resolve()
    shutil.rmtree(root, ignore_errors=True)
    for la in LAS:
        shutil.copytree(PROJECT_ROOT / "raw" / "sample" / la, root / "landing" / la)
    result = fostering("run", "--landing", root / "landing", "--warehouse", root / "data" / "warehouse.duckdb")
    assert result.returncode == 0, result.stdout + result.stderr
    build_report(version_dir.resolve())
    (root / "built").touch()
    return root, version_dir.resolve()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return published_report(tmp_path_factory)


# --- reading the report's HTML ------------------------------------------------------------------

VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr", "embed", "param", "track"}


class Node:
    def __init__(self, tag: str, attrs, parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str) -> list["Node"]:
        return [n for n in self.iter() if n.tag == tag]

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", [], None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"</{tag}> closes nothing"
        self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(path: Path) -> Node:
    tree = _Tree()
    tree.feed(path.read_text(encoding="utf-8"))
    tree.close()
    assert tree.current is tree.root, f"{path}: unclosed <{tree.current.tag}>"
    return tree.root


def pages(version_dir: Path) -> list[Path]:
    return sorted((version_dir / "report").rglob("*.html"))


# --- the published files, read here on their own ------------------------------------------------


class Published:
    """Every published cell by the report's reference `mart|key…|column`: (value, withheld)."""

    def __init__(self, version_dir: Path):
        self.rows: dict[str, dict] = {}
        for mart, keys in KEYS.items():
            frame = pd.read_parquet(version_dir / f"{mart}.parquet")
            for row in frame.to_dict("records"):
                key = "|".join([mart, *(_key_text(k, row[k]) for k in keys)])
                self.rows[key] = row

    def cell(self, ref: str):
        key, column = ref.rsplit("|", 1)
        assert key in self.rows, f"{ref}: no such published row"
        row = self.rows[key]
        assert column in row, f"{ref}: no such published column"
        withheld = column in str(row.get("withheld") or "").split(",")
        return row[column], withheld


def _key_text(key: str, value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m") if key == "period" else str(value)


NUMBER = re.compile(r"^([+\-])?(£)?(\d[\d,]*(?:\.\d+)?)(%|k|m)?$")


def _shown(node: Node) -> str:
    """The figure an element prints: its whole text, or for a tooltip the part after the last ': '."""
    text = node.text().strip()
    if node.tag == "title":
        text = text.rsplit(": ", 1)[-1]
        text = re.sub(r" \(.*\)$", "", text)
    return text.replace("−", "-")


def _matches(shown: str, value) -> bool:
    if isinstance(value, str):
        return shown == value
    match = NUMBER.match(shown)
    if not match:
        return False
    sign, _, digits, suffix = match.groups()
    number = float(digits.replace(",", "")) * (-1 if sign == "-" else 1)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    expected = float(value)
    if suffix == "%":
        expected *= 100
    elif suffix == "k":
        expected /= 1e3
    elif suffix == "m":
        expected /= 1e6
    return abs(number - expected) <= tolerance


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


# --- the tests ---------------------------------------------------------------------------------


def test_a_page_for_every_la_and_hub_of_the_publish(built):
    _, version_dir = built
    sufficiency = pd.read_parquet(version_dir / "mart_sufficiency.parquet")
    report = version_dir / "report"
    index = (report / "index.html").read_text(encoding="utf-8")
    names = sorted(sufficiency["la_name"].unique())
    assert len(names) == len(LAS)
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        page = report / "la" / f"{slug}.html"
        assert page.is_file(), page
        assert f'href="la/{slug}.html"' in index
        assert f"<h1>{name}</h1>" in page.read_text(encoding="utf-8")
    for hub in sufficiency["hub"].unique():
        slug = re.sub(r"[^a-z0-9]+", "-", hub.lower()).strip("-")
        assert (report / "hub" / f"{slug}.html").is_file()
        assert f'href="hub/{slug}.html"' in index
    assert len(pages(version_dir)) == 1 + len(names) + sufficiency["hub"].nunique()
    # `latest` leads to the report too.
    assert (version_dir.parent / "latest" / "report" / "index.html").is_file()


def test_every_chart_has_a_caption_with_its_period_and_mart_an_svg_and_a_table(built):
    _, version_dir = built
    marts = set(KEYS)
    charts_per_page = {}
    for path in pages(version_dir):
        doc = parse(path)
        assert doc.find_all("html")[0].attrs.get("lang") == "en-GB"
        assert len(doc.find_all("h1")) == 1
        figures = [n for n in doc.find_all("figure") if "chart" in n.attrs.get("class", "").split()]
        charts_per_page[path.name] = len(figures)
        for fig in figures:
            mart, first, last = fig.attrs["data-mart"], fig.attrs["data-period-from"], fig.attrs["data-period-to"]
            assert mart in marts and fig.attrs["data-chart"]
            caption = fig.find_all("figcaption")[0].text()
            assert caption.endswith(f"({mart})"), caption
            last_words = pd.Timestamp(last + "-01").strftime("%b %Y")
            first_words = pd.Timestamp(first + "-01").strftime("%b %Y")
            assert last_words in caption, caption
            assert first == last or first_words in caption or "12 months to" in caption or "financial year" in caption, caption
            svgs = fig.find_all("svg")
            assert len(svgs) == 1 and svgs[0].attrs.get("role") == "img" and svgs[0].attrs.get("aria-label") == caption
            units = [n.text() for n in svgs[0].iter() if "unit" in n.attrs.get("class", "").split()]
            assert units and all(u.strip() for u in units), (path.name, caption)  # the axes say what they count
            details = fig.find_all("details")
            assert len(details) == 1 and details[0].find_all("summary")[0].text() == "Table"
            table = details[0].find_all("table")[0]
            assert table.find_all("caption")[0].text() == caption
            assert table.find_all("thead") and len(table.find_all("tbody")[0].find_all("tr")) >= 1
    la_pages = [p for p in pages(version_dir) if p.parent.name == "la"]
    assert all(charts_per_page[p.name] >= 10 for p in la_pages), charts_per_page
    for path in (version_dir / "report" / "hub").glob("*.html"):
        assert charts_per_page[path.name] == 9  # one per metric of mart_benchmark


def test_the_la_charts_cover_the_las_published_months(built):
    _, version_dir = built
    sufficiency = pd.read_parquet(version_dir / "mart_sufficiency.parquet")
    for name, rows in sufficiency.groupby("la_name"):
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        doc = parse(version_dir / "report" / "la" / f"{slug}.html")
        placements = next(f for f in doc.find_all("figure") if f.attrs.get("data-chart") == "placements")
        periods = pd.to_datetime(rows["period"])
        assert placements.attrs["data-period-to"] == periods.max().strftime("%Y-%m")
        assert placements.attrs["data-period-from"] == periods.min().strftime("%Y-%m")
        assert len(placements.find_all("tbody")[0].find_all("tr")) == len(rows)


def test_the_report_refers_to_nothing_outside_itself(built):
    _, version_dir = built
    report = version_dir / "report"
    for path in pages(version_dir):
        html = path.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", ""), path
        assert not re.search(r"@import|url\((?!#withheld-hatch\))", html), path
        doc = parse(path)
        for node in doc.iter():
            assert "src" not in node.attrs, (path, node.tag)
            href = node.attrs.get("href")
            if href is None or href.startswith("#"):
                continue
            assert ":" not in href, (path, href)
            assert (path.parent / href).resolve().is_file() and report in (path.parent / href).resolve().parents, (path, href)
        scripts = doc.find_all("script")
        # The only script is the report's own (tooltips, table toggle): it embeds no data.
        assert [s.text() for s in scripts] == [SCRIPT] and not any(s.attrs for s in scripts)


def test_every_figure_printed_is_the_published_cell_it_names(built):
    _, version_dir = built
    published = Published(version_dir)
    checked = withheld_seen = sums = 0
    for path in pages(version_dir):
        for node in parse(path).iter():
            if "data-cell" in node.attrs:
                value, withheld = published.cell(node.attrs["data-cell"])
                shown = _shown(node)
                if withheld:
                    assert shown == "withheld", (path.name, node.attrs["data-cell"], shown)
                    withheld_seen += 1
                elif _missing(value):
                    assert shown == "–", (path.name, node.attrs["data-cell"], shown)
                else:
                    assert _matches(shown, value), (path.name, node.attrs["data-cell"], shown, value)
                checked += 1
            if "data-sum" in node.attrs:
                total = 0.0
                for ref in node.attrs["data-sum"].split():
                    value, withheld = published.cell(ref)
                    assert not withheld and not _missing(value), (path.name, ref)
                    total += float(value)
                assert _matches(_shown(node), total), (path.name, node.attrs["data-sum"], _shown(node), total)
                sums += 1
    assert checked > 5000 and withheld_seen > 100 and sums > 50, (checked, withheld_seen, sums)


def _untraced_text(doc: Node):
    """Text nodes and aria-labels outside traced figures, <time>, <code>, scripts, styles and axis ticks."""
    skip = {"script", "style", "time", "code"}

    def traced(node: Node) -> bool:
        return any(
            n.tag in skip or "data-cell" in n.attrs or "data-sum" in n.attrs or "tick" in n.attrs.get("class", "").split()
            for n in (node, *node.ancestors())
        )

    for node in doc.iter():
        if "aria-label" in node.attrs:
            yield node.attrs["aria-label"]
        if traced(node):
            continue
        for child in node.children:
            if isinstance(child, str):
                yield child


def test_no_number_is_printed_except_published_figures(built):
    _, version_dir = built
    for path in pages(version_dir):
        for text in _untraced_text(parse(path)):
            rest = text
            for pattern in ALLOWED:
                rest = re.sub(pattern, "", rest)
            assert not re.search(r"\d", rest), (path.name, text)


def test_no_withheld_cell_shows_its_exact_value(built):
    """The warehouse's exact value of every withheld cell the report refers to is not printed there."""
    root, version_dir = built
    published = Published(version_dir)
    refs: dict[str, list[tuple[str, str]]] = {}
    for path in pages(version_dir):
        for node in parse(path).iter():
            ref = node.attrs.get("data-cell")
            if ref and published.cell(ref)[1]:
                refs.setdefault(ref, []).append((path.name, node.text().strip()))
    assert len(refs) > 100
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
        exact: dict[str, object] = {}
        for mart, keys in KEYS.items():
            wanted = {r for r in refs if r.startswith(mart + "|")}
            if not wanted:
                continue
            frame = con.sql(f"select * from marts.{mart}").df()
            rows = {"|".join([mart, *(_key_text(k, row[k]) for k in keys)]): row for row in frame.to_dict("records")}
            for ref in wanted:
                key, column = ref.rsplit("|", 1)
                exact[ref] = rows[key][column]
    assert set(exact) == set(refs)
    counts = 0
    for ref, where in refs.items():
        value = exact[ref]
        if _missing(value):  # withheld in the publish but null in the warehouse: nothing to give away
            continue
        forms = {str(value), f"{float(value):,.0f}", f"{float(value) * 100:.1f}%", f"£{float(value):,.0f}", f"{float(value):.1f}"}
        for page_name, text in where:
            assert text.endswith("withheld"), (page_name, ref, text)
            shown = text.rsplit(": ", 1)[-1]
            assert not any(form == shown for form in forms), (page_name, ref, text, value)
        counts += 1
    assert counts > 100


def test_the_report_command_rebuilds_the_same_report(built):
    root, version_dir = built
    before = {p.relative_to(version_dir): p.read_bytes() for p in pages(version_dir)}
    result = fostering("report", "--publish-dir", root / "data" / "published")
    assert result.returncode == 0, result.stderr
    assert str(version_dir / "report" / "index.html") in result.stdout
    after = {p.relative_to(version_dir): p.read_bytes() for p in pages(version_dir)}
    assert after == before  # deterministic: the same publish gives the same files
    assert not [p for p in version_dir.iterdir() if p.name.startswith(".report")]  # no temporary folder left
    missing = fostering("report", "--publish-dir", root / "data" / "published", "--version", "19990101T000000Z", check=False)
    assert missing.returncode == 2 and "no publish 19990101T000000Z" in missing.stderr
    nothing = fostering("report", "--publish-dir", root / "nowhere", check=False)
    assert nothing.returncode == 2 and "no latest publish" in nothing.stderr


def test_a_publish_changed_after_publishing_is_refused(built, tmp_path):
    """The report checks every Parquet file against the manifest's checksum before reading it."""
    _, version_dir = built
    copy = tmp_path / "published" / version_dir.name
    shutil.copytree(version_dir, copy, ignore=shutil.ignore_patterns("report"))
    frame = pd.read_parquet(copy / "mart_sufficiency.parquet")
    frame.loc[0, "withheld"] = ""  # e.g. someone "un-withholding" a cell by hand
    frame.to_parquet(copy / "mart_sufficiency.parquet")
    result = fostering("report", "--publish-dir", tmp_path / "published", "--version", version_dir.name, check=False)
    assert result.returncode == 2 and "does not match the checksum" in result.stderr, result.stderr
    assert not (copy / "report").exists()


# --- lateness: a history loaded in bulk is not late by the loading (issue 15) -----------------------


def test_a_history_loaded_in_bulk_is_not_shown_as_late(built):
    """The sample is loaded today, long after its due dates: a return is drawn late only when signed off late.

    Signed off in time, its lateness is unknown: the words "lateness unknown" in the grid's table,
    the tooltip and the LA's pill, an open corner mark and its legend entry; never "late".
    """
    _, version_dir = built
    status = pd.read_parquet(version_dir / "mart_submission_status.parquet")
    sent = status[status["status"].isin(["accepted", "accepted_with_warnings"])]
    assert len(sent) > 0 and "received" not in set(sent["lateness_basis"])
    assert (sent["late"].isna() == (sent["lateness_basis"] == "unknown")).all()
    unknown = sent[sent["lateness_basis"] == "unknown"]
    assert len(unknown) > 0  # most sample returns are signed off in time
    overview = parse(version_dir / "report" / "index.html")
    text = overview.text()
    assert "lateness unknown" in text and "open corner mark" in text
    assert overview.find_all("path") and any("unknown-mark" in (p.attrs.get("class") or "") for p in overview.find_all("path"))
    la_pages = "".join(p.read_text(encoding="utf-8") for p in (version_dir / "report" / "la").glob("*.html"))
    latest = sent.sort_values("period").groupby("la_code").tail(1)
    if (latest["lateness_basis"] == "unknown").any():
        assert "lateness unknown" in la_pages


def test_the_status_grid_draws_unknown_lateness_apart_from_late():
    import numpy as np

    from orchestration.report.charts import lateness, lateness_words, status_grid

    periods = [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-08-01")]
    status = np.array([["accepted", "accepted"]], dtype=object)
    drawn = status_grid(["Trafford"], periods, status, np.array([[True, False]]), label="returns",
                        unknown=np.array([[False, True]]))
    assert "accepted, late<" in drawn.svg  # the tooltip of July
    assert "accepted, lateness unknown<" in drawn.svg and drawn.svg.count("unknown-mark") == 1
    assert [(w, k) for w, _, k in drawn.legend][-2:] == [("late (corner mark)", "late"), ("lateness unknown (open corner mark)", "unknown")]
    plain = status_grid(["Trafford"], periods, status, np.array([[False, False]]), label="returns")
    assert "unknown" not in plain.svg and all(k != "unknown" for _, _, k in plain.legend)
    assert [lateness(v) for v in (True, False, None, pd.NA, float("nan"))] == [True, False, None, None, None]
    assert [lateness_words(v) for v in (True, False, pd.NA)] == [", late", "", ", lateness unknown"]
