"""Write a self-contained HTML gap-analysis report for commissioners (`placecat report`).

Usage: placecat report --db FILE --out report.html [--level lsoa|msoa|ward|lad] [--top N]

One HTML file with everything inline (CSS and SVG charts drawn here, no scripts, fonts or
images fetched), so it opens offline and can be e-mailed. It reads only the published catalogue:
``gap.*``, ``catalogue.service_type``, ``ops.*`` and ``quality.source_health`` when present.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PALETTE = ("#1d4e89", "#2a7ab0", "#4aa3c8", "#7cc6d6", "#b6e0df", "#f2d98d", "#f4b26a", "#ea7d4f", "#d4473f", "#9e1b32")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#1d4e89;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:26px}
header p{margin:0;opacity:.85}main{padding:16px 32px 48px;max-width:1200px}
section{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:19px;margin:0 0 8px}p.lead{color:#52606d;margin:4px 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:12px 14px}
.card .v{font-size:26px;font-weight:700;color:#1d4e89}.card .k{font-size:13px;color:#52606d}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb}
th{background:#f0f4f8;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;max-width:100%;height:auto}svg text{font-family:inherit;font-size:12px;fill:#1f2933}
.note{background:#fff8e1;border-left:4px solid #f4b26a;padding:8px 12px;margin:8px 0;font-size:14px}
.ok{color:#1b7f3b;font-weight:600}.bad{color:#b42318;font-weight:600}.warn{color:#b54708;font-weight:600}
footer{color:#52606d;font-size:12px;padding:0 32px 24px}
"""


class ReportError(RuntimeError):
    """The report cannot be written; one line for the user."""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


# ---------------------------------------------------------------- charts (inline SVG)

def bar_chart(title: str, labels: list[str], values: list[float], *, unit: str = "", colors: list[str] | None = None,
              chart_id: str, width: int = 760, height: int = 280) -> str:
    """A vertical bar chart, drawn as SVG with axis labels and values on the bars."""
    pad_l, pad_r, pad_t, pad_b = 56, 16, 28, 44
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    top = max([v for v in values if v is not None] + [0]) or 1.0
    n = max(len(values), 1)
    slot = plot_w / n
    parts = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{esc(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{esc(title)}</title>']
    for i in range(5):
        y = pad_t + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end">{top * i / 4:.1f}</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        v = value or 0.0
        h = plot_h * v / top
        x = pad_l + i * slot + slot * 0.15
        color = (colors or PALETTE)[i % len(colors or PALETTE)]
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{max(h, 0.5):.1f}" fill="{color}"><title>{esc(label)}: {v:.2f}{esc(unit)}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{pad_t + plot_h - h - 4:.1f}" text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_b + 16}" text-anchor="middle">{esc(label)}</text>')
    parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{pad_t + plot_h}" y2="{pad_t + plot_h}" stroke="#52606d"/>')
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(title: str, rows: list[tuple[str, float, str]], *, chart_id: str, width: int = 760,
               max_value: float | None = None, unit: str = "%") -> str:
    """Horizontal bars, one per row (label, value, annotation)."""
    row_h, pad_l, pad_r, pad_t = 24, 260, 150, 8
    height = pad_t * 2 + row_h * max(len(rows), 1)
    top = max_value or max([r[1] for r in rows] + [0]) or 1.0
    plot_w = width - pad_l - pad_r
    parts = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{esc(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>']
    for i, (label, value, note) in enumerate(rows):
        y = pad_t + i * row_h
        w = plot_w * (value or 0) / top
        short = label if len(label) <= 38 else label[:36] + "…"
        parts.append(f'<text x="{pad_l - 8}" y="{y + 16}" text-anchor="end">{esc(short)}</text>')
        parts.append(f'<rect class="bar" x="{pad_l}" y="{y + 4}" width="{max(w, 0.5):.1f}" height="{row_h - 8}" '
                     f'fill="{PALETTE[8] if value >= 0.5 * top else PALETTE[6]}"><title>{esc(label)}: {value:.1f}{unit}</title></rect>')
        parts.append(f'<text x="{pad_l + w + 6:.1f}" y="{y + 16}">{value:.1f}{unit} {esc(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def matrix_chart(title: str, names: list[str], cells: dict[tuple[str, str], int], *, chart_id: str) -> str:
    """A source × source matrix: shared services off the diagonal, each source's total on it."""
    cell, pad_l, pad_t = 64, 200, 150
    n = max(len(names), 1)
    width, height = pad_l + cell * n + 16, pad_t + cell * n + 16
    top = max([v for (a, b), v in cells.items() if a != b] + [1])
    parts = [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{esc(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>']
    for i, name in enumerate(names):
        short = name if len(name) <= 26 else name[:24] + "…"
        parts.append(f'<text x="{pad_l - 8}" y="{pad_t + i * cell + cell / 2 + 4}" text-anchor="end">{esc(short)}</text>')
        cx = pad_l + i * cell + cell / 2
        parts.append(f'<text x="{cx}" y="{pad_t - 8}" transform="rotate(-40 {cx} {pad_t - 8})">{esc(short)}</text>')
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            v = cells.get((a, b), 0)
            if a == b:
                fill, text_fill = "#e4e7eb", "#1f2933"
            else:
                shade = int(round(9 * v / top)) if v else 0
                fill = PALETTE[min(max(4 - shade // 2, 0), 4)] if v else "#ffffff"
                text_fill = "#ffffff" if v and shade >= 5 else "#1f2933"
            x, y = pad_l + j * cell, pad_t + i * cell
            parts.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                         f'stroke="#cbd2d9"><title>{esc(a)} × {esc(b)}: {v}</title></rect>')
            parts.append(f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                         f'style="fill:{text_fill}">{v}</text>')
    parts.append("</svg>")
    return "".join(parts)


def table(headers: list[str], rows: list[list], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c if isinstance(c, Markup) else fmt(c)}</td>'
                                     for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Markup(str):
    """Already-escaped HTML for a table cell."""


# ---------------------------------------------------------------- reading the catalogue

@dataclass
class ReportData:
    title: str
    generated: str
    headline: dict
    deciles: list[tuple[int, float, float, int]]
    gaps: list[tuple[str, float, str]]
    sources: list[str]
    overlap: dict[tuple[str, str], int]
    worst: list[list]
    far: list[list]
    health_headers: list[str]
    health: list[list]
    notes: list[str]
    threshold_km: float | None
    level: str


def _exists(con, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                            [schema, table]).fetchone()[0])


def _count(con, table: str) -> int:
    schema, name = table.split(".")
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if _exists(con, schema, name) else 0


def gather(con: duckdb.DuckDBPyConnection, level: str = "lsoa", top: int = 25) -> ReportData:
    headline: dict = {}
    headline["Golden services"] = _count(con, "catalogue.service")
    headline["Sources"] = con.execute("SELECT count(DISTINCT source_id) FROM catalogue.service_source").fetchone()[0] \
        if _exists(con, "catalogue", "service_source") else 0
    if _exists(con, "catalogue", "service_type"):
        classified = con.execute("SELECT count(DISTINCT service_id) FROM catalogue.service_type").fetchone()[0]
        headline["Services classified to LGA types"] = (f"{100 * classified / headline['Golden services']:.0f}%"
                                                        if headline["Golden services"] else "–")
        headline["Service types present"] = con.execute("SELECT count(DISTINCT esd_id) FROM catalogue.service_type").fetchone()[0]
    notes = [r[0] for r in con.execute("SELECT DISTINCT note FROM gap.note ORDER BY 1").fetchall()] \
        if _exists(con, "gap", "note") else ["this catalogue has no gap tables: run `placecat run` with this version"]
    deciles, gaps, worst, far, threshold = [], [], [], [], None
    if _count(con, "gap.coverage"):
        pop, lsoas = con.execute("SELECT sum(population), count(*) FROM gap.coverage WHERE level = 'lsoa' AND esd_id = "
                                 "(SELECT min(esd_id) FROM gap.coverage)").fetchone()
        headline["People in the study area"] = int(pop or 0)
        headline["LSOAs in the study area"] = lsoas
        deciles = con.execute("""
            SELECT imd_decile, sum(services) * 10000.0 / nullif(any_value(population), 0) AS per10k,
                   any_value(population), sum(services)
            FROM gap.need_vs_supply GROUP BY imd_decile ORDER BY imd_decile""").fetchall()
        worst = [list(r) for r in con.execute("""
            WITH la AS (SELECT DISTINCT area_code AS lad_code, area_name AS lad_name FROM gap.coverage WHERE level = 'lad')
            SELECT u.area_code, any_value(u.area_name), any_value(coalesce(la.lad_name, u.lad_code)),
                   round(any_value(u.imd_rank))::INT, any_value(u.population)::BIGINT, count(*),
                   string_agg(u.label, '; ' ORDER BY u.label)
            FROM gap.need_vs_supply_areas u LEFT JOIN la USING (lad_code) WHERE u.level = ?
            GROUP BY u.area_code ORDER BY count(*) DESC, any_value(u.imd_rank) LIMIT ?""", [level, top]).fetchall()]
        headline["Underserved area × type pairs (high need, low supply)"] = con.execute(
            "SELECT count(*) FROM gap.need_vs_supply_areas WHERE level = ?", [level]).fetchone()[0]
    if _count(con, "gap.access"):
        threshold = con.execute("SELECT any_value(threshold_km) FROM gap.access").fetchone()[0]
        gaps = [(label, 100.0 * (beyond or 0) / pop if pop else 0.0, f"({int(beyond or 0):,} people)")
                for label, beyond, pop in con.execute("""
                    SELECT label, sum(population_beyond), sum(population) FROM gap.access WHERE level = 'lad'
                    GROUP BY esd_id, label ORDER BY sum(population_beyond) / nullif(sum(population), 0) DESC, label
                    LIMIT 15""").fetchall()]
        far = [list(r) for r in con.execute("""
            WITH la AS (SELECT DISTINCT area_code AS lad_code, area_name AS lad_name FROM gap.coverage WHERE level = 'lad')
            SELECT a.area_code, a.area_name, coalesce(la.lad_name, a.lad_code), a.label, round(a.distance_km, 1),
                   a.population::BIGINT
            FROM gap.access a LEFT JOIN la USING (lad_code) WHERE a.level = 'lsoa' AND a.beyond
            ORDER BY a.distance_km DESC NULLS FIRST LIMIT ?""", [top]).fetchall()]
        worst_type = max(gaps, key=lambda g: g[1], default=None)
        if worst_type:
            headline[f"Residents over {threshold:g} km from any {worst_type[0]} (least accessible type)"] = \
                f"{worst_type[1]:.0f}%"
    sources, overlap = [], {}
    if _exists(con, "gap", "overlap") and _exists(con, "catalogue", "service_source"):
        for sid, n in con.execute("SELECT source_id, count(DISTINCT service_id) FROM catalogue.service_source "
                                  "GROUP BY 1 ORDER BY 1").fetchall():
            sources.append(sid)
            overlap[(sid, sid)] = n
        for a, b, both in con.execute("SELECT source_a, source_b, in_both FROM gap.overlap").fetchall():
            overlap[(a, b)] = overlap[(b, a)] = both
    health_headers, health = feed_health(con)
    run = con.execute("SELECT max(finished_at) FROM ops.run WHERE status = 'published'").fetchone()[0] \
        if _exists(con, "ops", "run") else None
    return ReportData("Local services: where are the gaps?", f"catalogue published {run or 'not yet'}", headline,
                      deciles, gaps, sources, overlap, worst, far, health_headers, health, notes, threshold, level)


def feed_health(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[list]]:
    """The latest scorecard row per source: quality.source_health if the quality stage wrote it, else the run status."""
    if _count(con, "quality.source_health"):
        cols = [c[0] for c in con.execute("SELECT * FROM quality.source_health LIMIT 0").description]
        order = "run_at" if "run_at" in cols else ("checked_at" if "checked_at" in cols else None)
        latest = (f"QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY {order} DESC) = 1" if order and "source_id" in cols
                  else "")
        preferred = ["source_id", "status", "up", "valid", "records", "records_quarantined", "richness",
                     "median_age_days", "stale", "pct_tagged", "duplicates", "conflicts", "personal_data"]
        keep = [c for c in preferred if c in cols] if "source_id" in cols else []
        keep = keep if len(keep) >= 4 else [c for c in cols if c not in ("run_id",)][:9]
        rows = con.execute(f"SELECT {', '.join(keep)} FROM quality.source_health {latest} ORDER BY 1").fetchall()
        return [c.replace("_", " ") for c in keep], [[_health_cell(c, v) for c, v in zip(keep, r)] for r in rows]
    if _count(con, "ops.source_status"):
        rows = con.execute("""
            SELECT source_id, status, records_in, records_quarantined, harvested_at, message FROM ops.source_status
            WHERE run_id = (SELECT run_id FROM ops.source_status ORDER BY checked_at DESC LIMIT 1) ORDER BY 1""").fetchall()
        headers = ["source", "status", "records", "quarantined", "harvested", "message"]
        return headers, [[r[0], _health_cell("status", r[1]), r[2], r[3], r[4], r[5]] for r in rows]
    return [], []


def _health_cell(column: str, value):
    if isinstance(value, bool):
        return Markup(f'<span class="{"ok" if value else "bad"}">{"yes" if value else "no"}</span>')
    if column in ("status", "grade", "rag") and isinstance(value, str):
        cls = "ok" if value.lower() in ("ok", "unchanged", "green", "a", "pass") else \
              "bad" if value.lower() in ("failed", "dropped", "red", "e", "f", "fail") else "warn"
        return Markup(f'<span class="{cls}">{esc(value)}</span>')
    return value


# ---------------------------------------------------------------- the page

def render(data: ReportData) -> str:
    cards = "".join(f'<div class="card"><div class="v">{fmt(v)}</div><div class="k">{esc(k)}</div></div>'
                    for k, v in data.headline.items())
    notes = "".join(f'<div class="note">{esc(n)}</div>' for n in data.notes)
    if data.deciles:
        decile_chart = bar_chart("Services per 10,000 people by IMD 2019 decile (1 = most deprived)",
                                 [str(d[0]) for d in data.deciles], [d[1] or 0.0 for d in data.deciles],
                                 unit=" per 10,000", chart_id="chart-deciles")
        decile_table = table(["IMD decile", "people", "services (all types)", "per 10,000"],
                             [[d[0], int(d[2] or 0), int(d[3] or 0), d[1]] for d in data.deciles], {1, 2, 3})
    else:
        decile_chart, decile_table = '<p class="lead">No deprivation data loaded.</p>', ""
    gap_chart = (hbar_chart(f"Share of residents more than {data.threshold_km:g} km from the nearest service of each type",
                            data.gaps, chart_id="chart-gaps", max_value=100.0)
                 if data.gaps else '<p class="lead">No access distances (load postcode coordinates).</p>')
    overlap_chart = (matrix_chart("Services listed by both sources (diagonal: each source's total)", data.sources,
                                  data.overlap, chart_id="chart-overlap")
                     if data.sources else '<p class="lead">No sources yet.</p>')
    worst = (table(["area code", "area", "local authority", "IMD rank", "people", "types short", "service types in short supply"],
                   data.worst, {3, 4, 5}) if data.worst else '<p class="lead">No area has both high need and low supply '
             'by this measure (or no reference data is loaded).</p>')
    far = (table(["LSOA code", "LSOA", "local authority", "service type", "nearest (km)", "people"], data.far, {4, 5})
           if data.far else "")
    health = (table(data.health_headers, data.health) if data.health else '<p class="lead">No feed-health scorecard yet.</p>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(data.title)}</title><style>{CSS}</style></head>
<body><header><h1>{esc(data.title)}</h1><p>{esc(data.generated)} · report written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · placecat</p></header>
<main>
<section><h2>Headline figures</h2><div class="cards">{cards}</div>{notes}</section>
<section><h2>Coverage by deprivation</h2><p class="lead">Services located in each decile of England's Index of Multiple
Deprivation 2019, per 10,000 residents. If the bars fall towards decile 1, the most deprived neighbourhoods have fewer services per person.</p>
{decile_chart}{decile_table}</section>
<section><h2>Largest gaps per service type</h2><p class="lead">For each LGA service type, the share of residents whose
neighbourhood centre (LSOA population-weighted centroid) is more than {'' if data.threshold_km is None else f'{data.threshold_km:g} km'} from the nearest service of that type.</p>{gap_chart}</section>
<section><h2>Worst-served areas</h2><p class="lead">{esc(data.level.upper())}s in England's most deprived fifth (IMD 2019)
whose supply of a service type is in the bottom fifth of the study area, most types short first (rank 1 = most deprived in England).</p>{worst}
{'<h2 style="margin-top:16px">Furthest from a service</h2>' + far if far else ''}</section>
<section><h2>Source overlap</h2><p class="lead">How many golden services each pair of directories both list: high numbers
mean duplicated effort; low ones mean each directory knows services the other does not.</p>{overlap_chart}</section>
<section><h2>Feed health</h2>{health}</section>
</main><footer>Contains public sector information licensed under the Open Government Licence v3.0: ONS postcode
directory and lookups, English Indices of Deprivation 2019 (MHCLG). Contains OS data © Crown copyright and database right.
Service data from the sources listed above.</footer></body></html>
"""


def write_report(db_path: Path, out: Path, level: str = "lsoa", top: int = 25) -> Path:
    if not Path(db_path).exists():
        raise ReportError(f"{db_path}: no catalogue here; run `placecat run --sources FILE --db {db_path}` first")
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(f"{db_path}: cannot open the catalogue ({str(exc).splitlines()[0]})") from None
    with con:
        page = render(gather(con, level, top))
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the report ({exc.strerror})") from None
    return out


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, type=Path, help="the published catalogue")
    p.add_argument("--out", required=True, type=Path, help="the HTML file to write (self-contained)")
    p.add_argument("--level", default="lsoa", choices=("lsoa", "msoa", "ward", "lad"),
                   help="area level of the worst-served table (default lsoa)")
    p.add_argument("--top", type=int, default=25, help="rows in each table (default 25)")


def run(args: argparse.Namespace) -> int:
    try:
        out = write_report(args.db, args.out, args.level, args.top)
    except ReportError as exc:  # a missing or damaged catalogue, an unwritable --out: exit 2 as everywhere
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {out}")
    return 0
