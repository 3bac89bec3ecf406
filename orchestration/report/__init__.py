"""The published fostering sufficiency report: static HTML pages built from one publish.

`build_report(<publish version folder>)` writes `<version>/report/`: `index.html`
(the overview), `la/<la>.html` (one per authority) and `hub/<hub>.html` (one per hub).
Charts are inline SVG drawn here in Python; each page embeds its styles and a small
script, and loads nothing, so the folder opens from disk with no network. The report
reads only the publish's own files (disclosure-controlled), so a withheld figure is
never in it: it reads "withheld". See docs/report.md.

Modules: `data` (read a publish), `fmt` (how figures read), `svg` and `charts` (drawing),
`series` (mart rows to chart series), `layout` and `assets` (the HTML around charts),
`la_figures` (an authority's charts), `overview_page`, `la_page`, `hub_page` (the pages),
`inputs` (what a hub or LA page is drawn from, and its digest), `build` (write the folder).

A hub or LA page whose inputs are unchanged since the latest version is carried from that
version's report (a hard link) instead of drawn again; `report/pages.json` records each
page's digest. The overview, which names the publish, is always drawn.
"""

from orchestration.report.build import ReportResult, build_report
from orchestration.report.data import ReportError

__all__ = ["ReportError", "ReportResult", "build_report"]
