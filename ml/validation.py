"""Run the Great Expectations suites kept in `expectations/` against staged tables.

Each suite is a declarative JSON file named after its dataset (`raw_order_lines.json` validates
`raw.stage_order_lines`). A failed suite raises `ValidationFailed`, whose message names every failed
expectation with a sample of offending rows (file and row of the export), so the run stops before
anything downstream is written. Results also go to `ops.validation_results` and to Data Docs HTML.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml import settings
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_ROWS = 5
# Columns that locate an offending row in the user's export.
ROW_LOCATORS = ("source_file", "source_row")


class ValidationFailed(RuntimeError):
    """Data did not meet its expectation suite; the message is meant for a person."""


@dataclass
class SuiteOutcome:
    suite: str
    table: str
    success: bool
    evaluated: int
    failures: list[dict] = field(default_factory=list)
    data_docs: str | None = None

    def describe(self) -> str:
        lines = [f"{self.table}: {len(self.failures)} of {self.evaluated} expectations failed (suite {self.suite})"]
        for failure in self.failures:
            lines.append(f"  - {failure['expectation']}{failure['where']}: {failure['observed']}")
            for row in failure["sample"]:
                lines.append(f"      {row}")
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return "\n".join(lines)


def load_suite_definition(suite_name: str) -> dict:
    path = settings.expectations_dir() / f"{suite_name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite file {path}")
    return json.loads(path.read_text())


def _context(docs_root: Path):
    import great_expectations as gx

    docs_root.mkdir(parents=True, exist_ok=True)
    return gx.get_context(mode="file", project_root_dir=str(docs_root))


def validate_frame(frame: pd.DataFrame, suite_name: str, as_of: dt.date, table: str,
                   docs_root: Path | None = None) -> SuiteOutcome:
    """Validate an in-memory frame against a suite file; build Data Docs if `docs_root` is given."""
    import great_expectations as gx

    definition = load_suite_definition(suite_name)
    docs_root = docs_root or settings.data_docs_dir()
    context = _context(docs_root)
    name = definition["name"]
    try:
        context.suites.delete(name)
    except Exception:  # noqa: BLE001 - absent on first run; the file is the source of truth
        pass
    suite = context.suites.add(gx.ExpectationSuite(
        name=name, expectations=definition["expectations"], meta=definition.get("meta", {})))
    source = context.data_sources.add_or_update_pandas(name="valueflow")
    asset_name = table.replace(".", "_")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    batch_definition = next(iter(asset.batch_definitions), None) or asset.add_batch_definition_whole_dataframe("all")
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch_definition, suite=suite))
    locators = [c for c in ROW_LOCATORS if c in frame.columns]
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
    if locators:
        result_format["unexpected_index_column_names"] = locators
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=f"{name}_checkpoint", validation_definitions=[validation],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
        result_format=result_format))
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters={"as_of": pd.Timestamp(as_of)},
    )
    suite_result = next(iter(result.run_results.values()))
    failures = [_describe_failure(r, frame) for r in suite_result.results if not r.success]
    docs = docs_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return SuiteOutcome(name, table, bool(suite_result.success), len(suite_result.results), failures,
                        str(docs) if docs.exists() else None)


def _describe_failure(result, frame: pd.DataFrame) -> dict:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    where = ""
    if "column" in kwargs:
        where = f" on column {kwargs['column']}"
    elif "column_list" in kwargs:
        where = f" on columns {kwargs['column_list']}"
    details = result.result or {}
    if "unexpected_count" in details:
        observed = f"{details['unexpected_count']} offending row(s) ({details.get('unexpected_percent', 0):.2f}%)"
    elif "observed_value" in details:
        observed = f"observed {details['observed_value']!r}"
    elif result.exception_info and result.exception_info.get("raised_exception"):
        observed = f"could not be evaluated: {result.exception_info.get('exception_message')}"
    else:
        observed = "failed"
    bounds = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "value_set", "regex", "type_list")}
    if bounds:
        observed += f"; expected {bounds}"
    return {"expectation": config.type, "where": where, "observed": observed,
            "sample": _sample_rows(details, frame, kwargs)}


def _sample_rows(details: dict, frame: pd.DataFrame, kwargs: dict) -> list[str]:
    indices = details.get("partial_unexpected_index_list") or []
    columns = [c for c in (kwargs.get("column"), *kwargs.get("column_list", [])) if c]
    rows = []
    for entry in indices[:SAMPLE_ROWS]:
        if isinstance(entry, dict):
            where = ", ".join(f"{k}={entry[k]}" for k in ROW_LOCATORS if k in entry)
            values = ", ".join(f"{k}={_plain(entry[k])}" for k in columns if k in entry)
            rows.append(f"{where}: {values}" if values else where)
    if not rows and details.get("partial_unexpected_list"):
        rows = [f"value {_plain(v)}" for v in details["partial_unexpected_list"][:SAMPLE_ROWS]]
    return rows


def _plain(value) -> str:
    """A value as a person reads it: 'abc' quoted, numbers and dates bare, missing as <missing>."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<missing>"
    if isinstance(value, str):
        return repr(value)
    return str(value.item() if hasattr(value, "item") else value)


def read_staged(wh: Warehouse, table: str) -> pd.DataFrame:
    # An integer column with unparseable values (nulls) arrives as float: the type check says so.
    return wh.query(f"SELECT * FROM {table}")


def record_outcome(wh: Warehouse, outcome: SuiteOutcome, as_of: dt.date, run_id: str) -> None:
    row = pd.DataFrame([{
        "run_id": run_id, "as_of_date": as_of, "suite": outcome.suite, "dataset": outcome.table,
        "success": outcome.success, "evaluated": outcome.evaluated, "failed": len(outcome.failures),
        "failures": json.dumps(outcome.failures, default=str), "data_docs": outcome.data_docs or "",
        "validated_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    wh.replace_partition("ops.validation_results", row, {"run_id": run_id, "suite": outcome.suite})


def validate_staged(wh: Warehouse, as_of: dt.date, run_id: str,
                    orders_before: dt.date | None = None) -> list[SuiteOutcome]:
    """Validate every staged table that has a suite; raise ValidationFailed naming all failures.

    Order lines must be dated before `orders_before` (default: the as-of date; later for a
    backfilled run, whose export legitimately holds orders after the date it stands for).
    """
    outcomes = []
    for suite_file in sorted(settings.expectations_dir().glob("raw_*.json")):
        dataset = suite_file.stem[len("raw_"):]
        table = f"raw.stage_{dataset}"
        if not wh.table_exists(table):
            continue
        outcome = validate_frame(read_staged(wh, table), suite_file.stem, orders_before or as_of, table)
        record_outcome(wh, outcome, as_of, run_id)
        outcomes.append(outcome)
        log.info("validated %s: %s", table, "passed" if outcome.success else "FAILED")
    failed = [o for o in outcomes if not o.success]
    if failed:
        raise ValidationFailed("Validation failed; nothing downstream was written.\n"
                               + "\n".join(o.describe() for o in failed))
    return outcomes
