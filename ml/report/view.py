"""The ValueFlow page inside Airflow's UI (served by plugins/valueflow_links.py to signed-in users).

Links are built from what the page is told: the MLflow UI's address (None: a local store, no links),
the Data Docs folder and the prefix the plugin serves it under, and the prefix of the reports.
"""
from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ml.report import overview
from ml.report.markup import page_html, table_html


@dataclass(frozen=True)
class Links:
    mlflow: str | None  # the MLflow UI, e.g. http://mlflow:5000
    data_docs_root: Path
    data_docs_prefix: str  # where the plugin serves data_docs_root
    reports_prefix: str  # where the plugin serves the reports folder

    def run(self, run_id) -> str:
        return f"{self.mlflow}/#/runs/{quote(run_id)}" if self.mlflow and isinstance(run_id, str) and run_id else ""

    def model(self, name: str, version) -> str:
        if not self.mlflow or not isinstance(version, str) or not version:
            return ""
        return f"{self.mlflow}/#/models/{quote(name)}/versions/{quote(version)}"

    def data_docs(self, path) -> str:
        if not isinstance(path, str) or not path:
            return ""
        try:
            relative = Path(path).resolve().relative_to(self.data_docs_root.resolve())
        except ValueError:
            return ""  # written where this page does not serve
        return f"{self.data_docs_prefix}/{quote(relative.as_posix())}"


def _section(key: str, title: str, note: str, body: str) -> str:
    return (f'<section id="{key}"><h2>{html.escape(title)}</h2><p class="note">{html.escape(note)}</p>\n'
            f"{body}</section>")


def render_view(wh, reports_folder: Path, links: Links) -> str:
    champions = overview.champions(wh)
    history = overview.promotion_history(wh)
    validations = overview.validations(wh)
    outcomes = overview.live_outcomes(wh)
    uplift = overview.campaign_uplift(wh)
    drift = overview.drift(wh)
    parts = [
        _section("champions", "Champions", "the version behind each family's alias `champion`, and the decision "
                 "that made it champion: its value on that holdout beside the best baseline's",
                 table_html(champions.drop(columns="run_id"),
                            {"version": pd.Series([links.model(f, v) for f, v in zip(champions["family"],
                                                                                      champions["version"])])})),
        _section("promotions", "Promotion history", "newest first; the reference is the champion where there was "
                 "one, else the best baseline; gain: how much better the challenger was on the policy's metric "
                 "(negative: worse; config/policies/ says which way is better and by how much it must win)",
                 table_html(history.drop(columns="run_id"), {"challenger_version": history["run_id"].map(links.run)})
                 if len(history) else "<p>no decision yet</p>"),
        _section("outcomes", "Live outcomes", "how each family's newest scores whose horizon has passed turned "
                 "out (evaluate_outcomes): the mart against what customers and products did, beside the best "
                 "simple baseline; the floor is the policy's `live` entry",
                 table_html(outcomes) if len(outcomes) else "<p>no scored date has its horizon passed yet</p>"),
        _section("uplift", "Campaign uplift", "the newest readout of the audiences: contacted against control "
                 "customers over the window, the uplift with its 95% interval, and whether the control group "
                 "could detect the effect the audience's config expects",
                 table_html(uplift) if len(uplift) else "<p>no audience has its readout window passed yet</p>"),
        _section("drift", "Drift", "each family's newest scoring run against the champion's training data "
                 "(inputs) and its earlier scores (scores), by Evidently: how many columns drifted, the action "
                 "the policy's `drift` entry took and why; the report shows every column",
                 table_html(drift.drop(columns="report"),
                            {"kind": drift["report"].map(lambda n: f"{links.reports_prefix}/{quote(n)}")})
                 if len(drift) else "<p>no drift check yet</p>"),
        _section("marts", "Marts", "each mart's newest as-of date, its rows and when they were written",
                 table_html(overview.marts(wh))),
        _section("validations", "Validation", "the latest Great Expectations results; failed checks name the "
                 "expectation, Data Docs show the rows",
                 table_html(validations.drop(columns="data_docs"),
                            {"result": validations["data_docs"].map(links.data_docs)}) if len(validations)
                 else "<p>no validation yet</p>"),
    ]
    listed = overview.reports(reports_folder)
    items = "".join(f'<li><a href="{links.reports_prefix}/{quote(p.name)}">{html.escape(p.stem)}</a></li>'
                    for p in listed)
    parts.append(_section("reports", "Marketing reports", "per as-of date: segments, value tiers, audiences, "
                          "top recommendations and the forecast, with pictures",
                          f"<ul>{items}</ul>" if listed else "<p>no report yet</p>"))
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return page_html("ValueFlow", "ValueFlow", f"champions, decisions, marts and validations; {generated}",
                     "\n".join(parts))


def unavailable(why: str) -> str:
    """The page while the warehouse cannot be read (a DuckDB file held by a running task, no warehouse yet)."""
    return page_html("ValueFlow", "ValueFlow", "the warehouse cannot be read right now",
                     f"<p>{html.escape(why)}</p><p>Reload in a minute.</p>")
