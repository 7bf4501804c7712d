"""The marketer's report as one HTML file per as-of date: `<workspace>/reports/marketing-<D>.html`.

Pictures are PNGs inlined as data URIs, so the file opens anywhere, offline, and can be mailed. The
file is written beside and renamed into place, so a failed render leaves the last report intact.
"""
from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path

from ml import run_journal, settings
from ml.report.content import Section, report_sections
from ml.report.markup import page_html, png_data, table_html
from ml.warehouse import Warehouse


def report_path(as_of: dt.date, home: Path | None = None) -> Path:
    return (home or settings.state_dir()) / "reports" / f"marketing-{as_of.isoformat()}.html"


def render_section(section: Section) -> str:
    from ml.report.charts import section_chart

    parts = [f'<section id="{section.key}">', f"<h2>{html.escape(section.title)}</h2>",
             f'<p class="source">{html.escape(section.source)}</p>']
    if section.note:
        parts.append(f'<p class="note">{html.escape(section.note)}</p>')
    if not section.empty:
        figure = section_chart(section)
        parts.append(f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{png_data(figure)}">')
        parts.append(table_html(section.table))
    parts.append("</section>")
    return "\n".join(parts)


def render_report(sections: list[Section], as_of: dt.date, shop: str) -> str:
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(render_section(s) for s in sections)
    return page_html(f"ValueFlow marketing report {as_of}", f"Customers and products as of {as_of}",
                     f"shop export {shop}; generated {generated} from the warehouse marts", body)


def shop_source(wh: Warehouse, as_of: dt.date) -> str:
    from ml.catalog import INGEST_RUNS
    from ml.sql import sql_literal

    if not wh.table_exists(INGEST_RUNS):
        return "unknown"
    source = wh.scalar(f"SELECT source FROM {INGEST_RUNS} WHERE as_of_date <= {sql_literal(as_of)} "
                       "ORDER BY as_of_date DESC, published_at DESC LIMIT 1")
    return str(source) if source else "unknown"


def write_report(wh: Warehouse, as_of: dt.date, path: Path | None = None) -> Path:
    """Render the report for `as_of` and move it into place in one rename."""
    path = path or report_path(as_of)
    text = render_report(report_sections(wh, as_of), as_of, shop_source(wh, as_of))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def run_write_report(requested_as_of: str | None) -> dict:
    """Task body for dags/build_audiences.py: returns the report's path, never its content."""
    from ml.orchestration import resolve_as_of
    from ml.warehouse import connect

    with connect() as wh:
        as_of = resolve_as_of(wh, requested_as_of)
        path = write_report(wh, as_of)
    run_journal.changed("write_marketing_report", f"marketing report for {as_of}: {path}")
    return {"report": str(path), "as_of": as_of.isoformat()}
