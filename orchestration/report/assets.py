"""The styles and the one small script every page embeds (no file, font or library is loaded)."""

CSS = """
:root{--ink:#1f2933;--muted:#52606d;--line:#d9dee3;--bg:#f4f6f8;--brand:#1d3b5a;--accent:#0072B2;--card:#fff}
*{box-sizing:border-box}
html{font-size:16px}
body{margin:0;background:var(--bg);color:var(--ink);font-family:"Segoe UI",system-ui,-apple-system,Roboto,Helvetica,Arial,sans-serif;line-height:1.45}
.wrap{max-width:1120px;margin:0 auto;padding:0 24px}
.skip{position:absolute;left:-999px;top:0;background:#ffdd00;color:#000;padding:8px 12px;z-index:9}
.skip:focus{left:8px}
a{color:#005a9c}
a:focus,button:focus,summary:focus{outline:3px solid #ffbf47;outline-offset:2px}
.masthead{background:var(--brand);color:#fff;padding:18px 0 22px;margin-bottom:22px}
.masthead h1{font-size:2rem;margin:4px 0 2px;font-weight:700;letter-spacing:-.01em}
.masthead .sub{margin:0;color:#d5e2ef;font-size:1.02rem}
.masthead .sub strong{color:#fff}
.crumbs{font-size:.9rem;color:#b8cbe0}
.crumbs a{color:#fff}
.toggle-tables{margin-top:12px;background:transparent;color:#fff;border:1px solid #9fb7d0;border-radius:4px;padding:5px 12px;font:inherit;font-size:.9rem;cursor:pointer}
.toggle-tables:hover{background:rgba(255,255,255,.12)}
h2{font-size:1.45rem;margin:8px 0 6px;color:var(--brand)}
.block{margin:0 0 26px}
.lead{margin:0 0 12px;color:var(--muted);max-width:80ch}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;margin:0 0 26px}
.tile{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--accent);border-radius:6px;padding:10px 14px}
.tile-label{font-size:.86rem;color:var(--muted);line-height:1.25;min-height:2.2em}
.tile-value{font-size:1.7rem;font-weight:700;margin-top:2px}
.tile-value .withheld{font-size:1.1rem;color:var(--muted);font-weight:600}
.tile-when{font-size:.8rem;color:var(--muted)}
figure.chart{background:var(--card);border:1px solid var(--line);border-radius:6px;margin:0 0 16px;padding:16px 18px 10px}
figcaption{font-weight:700;font-size:1.08rem;line-height:1.3}
.note{margin:4px 0 6px;color:var(--ink);font-size:.95rem}
.note .fig{font-weight:700}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 2px;padding:0;font-size:.86rem;color:var(--ink)}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:14px;height:14px;border-radius:2px;background:var(--c)}
.swatch.line{height:3px;border-radius:0}
.swatch.dash{height:0;border-top:3px dashed var(--c);background:none;width:18px;border-radius:0}
.swatch.dot{border-radius:50%}
.swatch.late{width:0;height:0;border-left:9px solid transparent;border-top:9px solid var(--c);background:none;border-radius:0}
.swatch.unknown{width:7px;height:7px;border-top:2px solid var(--c);border-right:2px solid var(--c);background:none;border-radius:0}
.swatch.withheld{background:repeating-linear-gradient(45deg,#fff 0 2.2px,#6b7280 2.2px 4.2px);border:1px solid #6b7280}
.plot{margin-top:4px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.grid2 figure.chart{margin:0}
.plot svg{display:block;width:100%;height:auto;max-width:100%;overflow:visible}
svg text{font-family:inherit;fill:var(--ink);font-size:12px}
svg .tick{fill:var(--muted);font-size:11px}
svg .unit{fill:var(--muted);font-size:11.5px;font-style:italic}
svg .cat{font-size:12.5px}
svg .end-label{font-weight:700;font-size:12.5px}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
svg .muted{fill:var(--muted);font-weight:400}
svg .rate{font-size:12.5px;fill:var(--muted)}
svg .rate-value{font-weight:700;fill:var(--ink)}
svg .rank{fill:var(--muted)}
svg .sym{fill:#fff;font-weight:700;font-size:12px;pointer-events:none}
svg .mark:hover{filter:brightness(.85)}
details.table-view{margin-top:6px;font-size:.9rem}
details.table-view summary{cursor:pointer;color:#005a9c;font-weight:600;padding:2px 0}
.scroll{overflow-x:auto;max-height:460px;overflow-y:auto;margin-top:6px;border:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
caption{text-align:left;font-size:.85rem;color:var(--muted);padding:6px 8px}
th,td{padding:4px 8px;border-bottom:1px solid #edf0f2;text-align:right;white-space:nowrap}
thead th{position:sticky;top:0;background:#eef2f6;font-weight:600;text-align:right;white-space:normal;vertical-align:bottom}
th[scope=row],thead th:first-child{text-align:left}
td.withheld{color:var(--muted);font-style:italic}
table.text td,table.text thead th{text-align:left}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px;margin-bottom:26px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:14px 18px}
.card h3{margin:0 0 6px;font-size:1.15rem}
.card ul{margin:6px 0;padding-left:18px}
.members{display:flex;flex-wrap:wrap;gap:6px 22px;list-style:none;padding:0!important;font-size:1.05rem}
.muted-text{color:var(--muted)}
.pill{display:inline-block;font-size:.78rem;border-radius:10px;padding:0 8px;margin-left:6px;background:#eef2f6;color:var(--ink)}
.pill.late{background:#fde8e1;color:#8a2b0b}
.pill.ok{background:#e3f4ee;color:#075a3f}
.better{display:inline-block;font-weight:600;color:var(--brand)}
.foot{color:var(--muted);font-size:.85rem;padding-top:6px;padding-bottom:30px;border-top:1px solid var(--line);margin-top:10px}
.tip{position:fixed;pointer-events:none;background:#1f2933;color:#fff;font-size:.85rem;padding:5px 9px;border-radius:4px;max-width:340px;z-index:10;box-shadow:0 2px 6px rgba(0,0,0,.25)}
.defs{position:absolute;width:0;height:0;overflow:hidden}
@media print{.masthead{background:#fff;color:#000}.masthead .sub,.crumbs,.crumbs a{color:#000}.toggle-tables,.skip{display:none}
figure.chart{break-inside:avoid;border:0}body{background:#fff}}
"""

# Tooltips from the marks' <title>s, and one button that opens or closes every table.
# Plain ES5, no library; the pages work without it (titles still show, tables still open).
SCRIPT = """
(function () {
  var tip = document.createElement('div');
  tip.className = 'tip';
  tip.hidden = true;
  document.body.appendChild(tip);
  var marks = document.querySelectorAll('figure.chart svg .mark');
  for (var i = 0; i < marks.length; i++) {
    var t = marks[i].querySelector('title');
    if (t) { marks[i].setAttribute('data-tip', t.textContent); marks[i].setAttribute('data-title', t.textContent); t.textContent = ''; }
  }
  document.addEventListener('mousemove', function (e) {
    var el = e.target && e.target.closest ? e.target.closest('[data-tip]') : null;
    if (!el) { tip.hidden = true; return; }
    tip.textContent = el.getAttribute('data-tip');
    tip.hidden = false;
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) { x = e.clientX - tip.offsetWidth - 14; }
    if (y + tip.offsetHeight > window.innerHeight - 8) { y = e.clientY - tip.offsetHeight - 14; }
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });
  var button = document.querySelector('.toggle-tables');
  var tables = document.querySelectorAll('details.table-view');
  if (button && tables.length) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var open = button.getAttribute('aria-pressed') !== 'true';
      for (var j = 0; j < tables.length; j++) { tables[j].open = open; }
      button.setAttribute('aria-pressed', open ? 'true' : 'false');
      button.textContent = open ? 'Hide all tables' : 'Show all tables';
    });
  }
})();
"""
