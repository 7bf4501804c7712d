"""`python -m ml evaluate`: the pipeline on a shop's history before D, every mart scored on what happened after.

The whole export goes into a *truth* warehouse; the order lines before D are written out as an export
of their own and run through every DAG under Airflow, as a user would, into a throw-away workspace.
Each family's `outcomes.py` then holds its mart for D against the truth, beside the simple baselines
an analyst would compute, and the figures go to MLflow and to `docs/quality.md` (one table for every
shop: model vs best baseline, as a ratio).
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import tempfile
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml import catalog, ingest, pipeline, settings
from ml.families import FAMILY_MARTS
from ml.outcomes import Outcome, data_end, mart_partition
from ml.sql import sql_literal
from ml.warehouse import Warehouse, connect

log = logging.getLogger(__name__)
# The Online Retail II header, so the history export is read exactly as a user's file would be.
EXPORT_COLUMNS = {"invoice_id": "Invoice", "product_id": "StockCode", "description": "Description",
                  "quantity": "Quantity", "invoice_ts": "InvoiceDate", "unit_price": "Price",
                  "customer_id": "Customer ID", "country": "Country"}


@dataclass
class FamilyResult:
    family: str
    mart: str
    mart_rows: int
    outcomes: list[dict] = field(default_factory=list)
    note: str = ""  # why there is no mart, or what went wrong measuring it


@dataclass
class ShopReport:
    shop: str
    source: str
    as_of: str
    history_end: str  # the last order day before D
    data_end: str  # the day after the export's last order
    history_lines: int
    pipeline_exit: int
    families: list[FamilyResult]
    command: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def load_truth(source: Path, url: str) -> None:
    """The whole export, every order after D included, as the warehouse would hold it."""
    with connect(url) as truth:
        ingest.stage_source(truth, source)
        ingest.publish_staged(truth)


def write_history(truth: Warehouse, as_of: dt.date, path: Path) -> int:
    """The order lines before D as an Online Retail II CSV export; returns how many lines it holds."""
    columns = ", ".join(EXPORT_COLUMNS)
    select = (f"SELECT {columns} FROM {catalog.RAW_ORDER_LINES} WHERE invoice_ts < {sql_literal(as_of)} "
              "ORDER BY invoice_ts, invoice_id, line_no")
    written = 0
    with path.open("w", encoding="utf8", newline="") as handle:
        for batch in truth.query_batches(select, 200_000):
            batch = batch.rename(columns=EXPORT_COLUMNS)
            batch["InvoiceDate"] = batch["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
            batch.to_csv(handle, index=False, header=written == 0)
            written += len(batch)
    if written == 0:
        raise ingest.SourceError(f"no order line before {as_of}: nothing to train on")
    return written


def family_outcomes(name: str, wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[Outcome]:
    """The family's `outcomes(wh, truth, as_of)`, or [] for a family with nothing to check (segments)."""
    try:
        module = importlib.import_module(f"ml.families.{name}.outcomes")
    except ModuleNotFoundError as error:
        if error.name != f"ml.families.{name}.outcomes":
            raise
        return []
    return module.outcomes(wh, truth, as_of)


def why_no_mart(wh: Warehouse, family: str) -> str:
    """The last promotion decision's reason, which says why no challenger became champion."""
    if not wh.table_exists(catalog.MODEL_PROMOTIONS):
        return "no promotion was decided (its training DAG did not get that far)"
    rows = wh.query(f"SELECT decision, reason FROM {catalog.MODEL_PROMOTIONS} WHERE model_name = "
                    f"{sql_literal(family)} ORDER BY decided_at DESC LIMIT 1")
    if rows.empty:
        return "no promotion was decided (its training DAG failed)"
    return f"{rows['decision'].iat[0]}: {rows['reason'].iat[0]}"


def measure_families(wh: Warehouse, truth: Warehouse, as_of: dt.date) -> list[FamilyResult]:
    results = []
    for name, mart in FAMILY_MARTS:
        rows = mart_partition(wh, mart, as_of)
        result = FamilyResult(name, mart, 0 if rows is None else len(rows))
        if rows is None:
            result.note = f"no {mart} for {as_of}: {why_no_mart(wh, name)}"
        else:
            try:
                result.outcomes = [o.as_dict() for o in family_outcomes(name, wh, truth, as_of)]
            except Exception as error:  # one family's failure is reported; the others are still measured
                log.error("measuring %s failed:\n%s", name, traceback.format_exc())
                result.note = f"measuring the outcomes failed: {type(error).__name__}: {error}"
        results.append(result)
    return results


def evaluate_source(source: Path, as_of: dt.date, shop: str | None = None,
                    workspace: Path | None = None, command: str = "", verbose: bool = False) -> ShopReport:
    """Run the pipeline on the history before `as_of` and score every mart on what happened after."""
    source = Path(source).resolve()
    workspace = Path(workspace or tempfile.mkdtemp(prefix="valueflow-evaluate-")).resolve()
    truth_url = f"duckdb:///{workspace / 'truth.duckdb'}"
    load_truth(source, truth_url)
    history = workspace / "history.csv"
    with connect(truth_url) as truth:
        lines = write_history(truth, as_of, history)
        export_end = data_end(truth)
    with settings.workspace(workspace / "var"):
        status = pipeline.run_pipeline(str(history), as_of.isoformat(), keep_going=True, verbose=verbose)
        with connect() as wh, connect(truth_url) as truth:
            families = measure_families(wh, truth, as_of)
            last = wh.scalar(f"SELECT max(invoice_ts) FROM {catalog.RAW_ORDER_LINES}")
    return ShopReport(shop=shop or source.name.split(".")[0], source=source.name, as_of=as_of.isoformat(),
                      history_end=str(last)[:10], data_end=str(export_end), history_lines=lines,
                      pipeline_exit=status, families=families, command=command)


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"shops": {}}


def save_results(results: dict, report: ShopReport, path: Path) -> dict:
    results.setdefault("shops", {})[report.shop] = report.as_dict()
    path.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return results
