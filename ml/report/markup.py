"""HTML pieces the report pages share: one style sheet, tables formatted for people, inline pictures."""
from __future__ import annotations

import base64
import html
import io

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.source, .note { color: #555; font-size: 0.9em; margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin-top: 0.8em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f4f4f4; } .num { text-align: right; } .text { text-align: left; }
img { max-width: 100%; }
"""
PERCENT_COLUMNS = ("customer_share", "spend_share", "historical_share", "predicted_share", "control_share",
                   "share_of_lists", "treated_conversion", "control_conversion", "conversion_uplift",
                   "conversion_uplift_low", "conversion_uplift_high")
PROBABILITY_COLUMNS = ("mean_p_alive",)
METRIC_COLUMNS = ("value", "baseline_value", "challenger_value", "reference_value", "ratio")  # 4 digits


def png_data(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)  # pyplot keeps figures alive otherwise
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Shares as percentages, probabilities to two decimals, money and means to one, counts with
    thousands separators; headers in words."""
    out = table.copy()
    for column in out.columns:
        values = out[column]
        if column in PERCENT_COLUMNS:
            out[column] = values.map(lambda v: "–" if pd.isna(v) else f"{100 * v:.1f}%")
        elif column in METRIC_COLUMNS:
            out[column] = values.map(lambda v: "–" if pd.isna(v) else f"{v:.4g}")
        elif column == "gain":
            out[column] = values.map(lambda v: "–" if pd.isna(v) else f"{(v if v != 0 else 0.0):+.4g}")  # no "-0"
        elif column in PROBABILITY_COLUMNS:
            out[column] = values.map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
        elif pd.api.types.is_integer_dtype(values):
            out[column] = values.map(lambda v: f"{v:,}")
        elif pd.api.types.is_float_dtype(values):
            out[column] = values.map(lambda v: "–" if pd.isna(v) else f"{v:,.1f}")
    return out.rename(columns=lambda c: c.replace("_", " "))



def table_html(table: pd.DataFrame, links: dict[str, pd.Series] | None = None) -> str:
    """The table, formatted for people: text left, numbers right; `links` maps a column to each row's
    URL for that cell (empty: no link). Every cell is escaped."""
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    shown = formatted(table)
    links = links or {}
    head = "".join(f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
                   for c, n in zip(shown.columns, numeric))
    rows = []
    for i in range(len(shown)):
        cells = []
        for column, name, is_number in zip(table.columns, shown.columns, numeric):
            text = html.escape(str(shown[name].iat[i]))
            url = links[column].iat[i] if column in links else ""
            if isinstance(url, str) and url:
                # MLflow opens in its own tab: inside Airflow's UI this page is an iframe
                target = ' target="_blank" rel="noopener"' if url.startswith(("http://", "https://")) else ""
                text = f'<a href="{html.escape(url, quote=True)}"{target}>{text}</a>'
            cells.append(f'<td class="{"num" if is_number else "text"}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page_html(title: str, heading: str, subtitle: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{html.escape(heading)}</h1>\n<p class=\"source\">{html.escape(subtitle)}</p>\n{body}\n</body></html>\n")
