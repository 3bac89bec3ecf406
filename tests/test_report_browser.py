"""The report in a real browser: headless Chromium opens every page from disk.

Chromium (Debian's `chromium` package; `.ci/run` installs it) is driven over the
Chrome DevTools Protocol with the `websockets` client. For each page the test
collects console errors and uncaught exceptions (there must be none), counts the
charts whose SVG rendered with a non-zero size (every chart of the page), records
every request the page makes (all must be file://, never the network), and
hovers a chart mark to see the tooltip script work. It screenshots an LA page and
a hub page into tmp_path; with FOSTERING_REPORT_SCREENSHOTS=<folder> it writes them
there too (that is how docs/img/report-la.png and report-hub.png are made).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.test_report import pages, published_report

pytestmark = pytest.mark.slow

WIDTH = 1200
SHOT_HEIGHT = {"la": 1480, "hub": 1240}  # the top of the page: header, key figures, the first charts


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: apt-get install chromium (CI installs it in .ci/run)"
    return found


class DevTools:
    """A headless Chromium and one DevTools connection to it (flattened sessions, one per tab)."""

    def __init__(self, profile: Path):
        self.process = subprocess.Popen(
            [
                _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={WIDTH},900", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "chromium did not start its DevTools endpoint"
        self._socket_cm = connect(url, max_size=None, open_timeout=30)
        self.socket = self._socket_cm.__enter__()
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, session: str | None = None, **params) -> dict:
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == message_id:
                assert "error" not in reply, (method, reply["error"])
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.1))))
        raise AssertionError(f"no {method} within {timeout}s")

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self) -> None:
        self._socket_cm.__exit__(None, None, None)
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(20)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    devtools = DevTools(tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return published_report(tmp_path_factory)


def _open(browser: DevTools, path: Path) -> tuple[str, str, list[dict]]:
    """Open `path` in a new tab; returns (target, session, that session's events once loaded)."""
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", session)
    browser.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=900, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", session, url=path.as_uri())
    browser.wait_for("Page.loadEventFired", session)
    browser.evaluate(session, "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return target, session, [e for e in browser.events if e.get("sessionId") == session]


CHECK = """(() => {
  const figures = Array.from(document.querySelectorAll('figure.chart'));
  const rendered = figures.filter(f => {
    const svg = f.querySelector('svg');
    if (!svg) return false;
    const box = svg.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && svg.querySelectorAll('rect, circle, polyline').length > 0;
  }).length;
  const mark = document.querySelector('figure.chart svg .mark[data-tip]');
  let tip = null;
  if (mark) {
    mark.scrollIntoView();
    const box = mark.getBoundingClientRect();
    mark.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2}));
    const el = document.querySelector('.tip');
    tip = el && !el.hidden ? el.textContent : null;
  }
  const button = document.querySelector('.toggle-tables');
  let opened = null;
  if (button && !button.hidden) {
    button.click();
    opened = Array.from(document.querySelectorAll('details.table-view')).every(d => d.open);
    button.click();
  }
  return {figures: figures.length, rendered, tip, opened, marks: document.querySelectorAll('figure.chart svg .mark').length};
})()"""


def test_every_page_renders_every_chart_without_errors_or_network(built, browser, tmp_path):
    _, version_dir = built
    report_pages = pages(version_dir)
    assert len(report_pages) >= 4
    for path in report_pages:
        html = path.read_text(encoding="utf-8")
        expected = html.count('<figure class="chart"')
        target, session, _ = _open(browser, path)
        state = browser.evaluate(session, CHECK)
        events = [e for e in browser.events if e.get("sessionId") == session]
        errors = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
        errors += [e["params"] for e in events if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")]
        errors += [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        assert errors == [], (path.name, errors)
        requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        assert requests and all(url.startswith("file://") for url in requests), (path.name, requests)
        assert state["figures"] == expected > 0 and state["rendered"] == expected, (path.name, state, expected)
        assert state["marks"] > 0 and state["tip"], (path.name, state)
        assert state["opened"] is True, (path.name, state)
        browser.call("Target.closeTarget", targetId=target)
        browser.events = [e for e in browser.events if e.get("sessionId") != session]


def _screenshot(browser: DevTools, path: Path, height: int, out: Path) -> int:
    target, session, _ = _open(browser, path)
    data = browser.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})["data"]
    browser.call("Target.closeTarget", targetId=target)
    out.write_bytes(base64.b64decode(data))
    return out.stat().st_size


def test_screenshots_of_an_la_page_and_a_hub_page(built, browser, tmp_path):
    _, version_dir = built
    report = version_dir / "report"
    la = report / "la" / "trafford.html"
    hub = sorted((report / "hub").glob("*.html"))[0]
    extra = os.environ.get("FOSTERING_REPORT_SCREENSHOTS")
    for kind, page in (("la", la), ("hub", hub)):
        out = tmp_path / f"report-{kind}.png"
        size = _screenshot(browser, page, SHOT_HEIGHT[kind], out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < size < 1_500_000, (kind, size)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(out, Path(extra) / out.name)
