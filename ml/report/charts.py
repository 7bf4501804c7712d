"""The report's pictures, one matplotlib figure per section, drawn from the section's own table.

Each function takes the table `ml.report.content` built, so what the picture shows is what the table
beside it says (the tests read the bars back).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on a worker
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ml.report.content import Section

WIDTH = 9.0


def _label(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def segments_chart(table: pd.DataFrame) -> Figure:
    """Share of customers beside share of spend to date, per segment (largest at the top)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(table) + 1.4))
    y = np.arange(len(table))[::-1]
    ax.barh(y + 0.2, table["customer_share"] * 100, height=0.4, label="customers", color="tab:blue")
    spend = table["spend_share"].fillna(0) * 100
    ax.barh(y - 0.2, spend, height=0.4, label="spend to date", color="tab:orange")
    ax.set_yticks(y, [_label(s) for s in table["segment"]])
    ax.set_xlabel("% of all")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Segment sizes and their share of spend")
    fig.tight_layout()
    return fig


def value_tiers_chart(table: pd.DataFrame) -> Figure:
    """Per tier: share of customers, of spend to date and of predicted 365-day value."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    x = np.arange(len(table))
    for offset, (column, label) in zip((-0.27, 0.0, 0.27), (("customer_share", "customers"),
                                                              ("historical_share", "spend to date"),
                                                              ("predicted_share", "predicted value, 365 days"))):
        ax.bar(x + offset, table[column] * 100, width=0.27, label=label)
    ax.set_xticks(x, table["value_tier"])
    ax.set_ylabel("% of all")
    ax.legend(fontsize=8)
    ax.set_title("Value tiers: few customers, most of the value")
    fig.tight_layout()
    return fig


def _bars_per_row(labels: list[str], bars: list[tuple[pd.Series, pd.Series | None, str, str]], xlabel: str,
                  title: str, label_size: float | None = None) -> Figure:
    """Horizontal bars, one row per label (the first row at the top); each bar is (widths, left or None,
    legend label, colour), drawn in order."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    for widths, left, label, color in bars:
        ax.barh(y, widths, left=left, label=label, color=color)
    ax.set_yticks(y, labels, fontsize=label_size)
    ax.set_xlabel(xlabel)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def audiences_chart(table: pd.DataFrame) -> Figure:
    """Customers to contact and control customers held back, per audience (first priority at the top)."""
    return _bars_per_row(list(table["audience"]), [
        (table["treated"], None, "to contact", "tab:green"),
        (table["control"], table["treated"], "control (not contacted)", "tab:gray"),
    ], "customers", "Audiences and their control groups")


def recommendations_chart(table: pd.DataFrame) -> Figure:
    """How many customers each top product is recommended to, and to how many first (most at the top)."""
    names = [_label(f"{p} {d}".strip()) for p, d in zip(table["product_id"], table["description"])]
    return _bars_per_row(names, [
        (table["customers"], None, "in the list", "tab:purple"),
        (table["first_choice"], None, "first choice", "tab:pink"),
    ], "customers", "Products recommended to the most customers", label_size=8)


def forecast_chart(table: pd.DataFrame, history: pd.DataFrame | None) -> Figure:
    """One panel per product: recent actual units, then the forecast and its 80% band."""
    products = list(dict.fromkeys(table["product_id"]))
    fig, axes = plt.subplots(len(products), 1, figsize=(WIDTH, 1.9 * len(products) + 0.6), squeeze=False)
    for ax, product in zip(axes[:, 0], products):
        rows = table[table["product_id"] == product]
        weeks = pd.to_datetime(rows["week_start"])
        if history is not None:
            past = history[history["product_id"] == product]
            ax.plot(pd.to_datetime(past["week_start"]), past["units"], color="black", lw=1.2, label="actual")
        ax.plot(weeks, rows["predicted_units"], color="tab:blue", marker="o", ms=3, label="forecast")
        ax.fill_between(weeks, rows["lower_80"], rows["upper_80"], color="tab:blue", alpha=0.2, label="80% interval")
        ax.set_title(_label(f"{product} {rows['description'].iat[0]}".strip(), 70), fontsize=9)
        ax.set_ylabel("units / week")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def section_chart(section: Section) -> Figure | None:
    """The section's figure, or None when it has nothing to draw."""
    if section.empty:
        return None
    draw = {"segments": segments_chart, "value_tiers": value_tiers_chart, "audiences": audiences_chart,
            "recommendations": recommendations_chart}
    if section.key == "forecast":
        return forecast_chart(section.table, section.history)
    return draw[section.key](section.table)
