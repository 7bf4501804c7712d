"""The marketer's report: what the marts say for one as-of date, in tables and pictures.

`content` reads the numbers from the warehouse, `charts` draws them with matplotlib, `page` puts both
into one self-contained HTML file under `<workspace>/reports/` (images inline, so it opens offline).
"""
