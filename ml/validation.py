"""Run the Great Expectations suites kept in `expectations/` against staged tables.

Each suite is a declarative JSON file named after its dataset (`raw_order_lines.json` validates
`raw.stage_order_lines`). A failed suite raises `ValidationFailed`, whose message names every failed
expectation with a sample of offending rows (file and row of the export), so the run stops before
anything downstream is written. Results also go to `ops.validation_results` and to Data Docs HTML.

Great Expectations sees well-formed customer ids as their keyed pseudonyms (`ml.pseudonyms`), so Data
Docs, which print offending rows whole, name no customer; distinct ids stay distinct, so uniqueness
is judged the same. `VALUEFLOW_SHOW_CUSTOMER_IDS=1` shows the ids themselves, for debugging.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml import catalog, settings
from ml.pseudonyms import pseudonymise
from ml.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_ROWS = 5
# Rows validated at once: GE's pandas engine holds a few copies of a batch, so this bounds memory.
VALIDATION_BATCH_ROWS = 1_000_000
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
    return validate_batches([frame], suite_name, as_of, table, docs_root)


def validate_batches(batches: Iterable[pd.DataFrame], suite_name: str, as_of: dt.date, table: str,
                     docs_root: Path | None = None, definition: dict | None = None) -> SuiteOutcome:
    """Validate a table given as batches; the outcome is the suite's over all of them.

    Row-level expectations add up across batches (offending rows counted over the whole table,
    samples from the first batches that have them). Uniqueness holds over the whole table only if
    the batches never split a key between them: `staged_batches` partitions by key for that.
    """
    import great_expectations as gx

    definition = definition or load_suite_definition(suite_name)
    docs_root = docs_root or settings.data_docs_dir()
    context = _context(docs_root)
    name = definition["name"]
    try:
        context.suites.delete(name)
    except Exception:
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
    checkpoints: dict[tuple[str, ...], object] = {}
    merged: dict[int, dict] = {}
    checked_rows: dict[int, int] = {}  # per expectation: non-missing rows seen over all batches
    success, evaluated = True, 0
    for frame in batches:
        locators = tuple(c for c in ROW_LOCATORS if c in frame.columns)
        if locators not in checkpoints:
            result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
            if locators:
                result_format["unexpected_index_column_names"] = list(locators)
            checkpoints[locators] = context.checkpoints.add_or_update(gx.Checkpoint(
                name=f"{name}_checkpoint", validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                result_format=result_format))
        result = checkpoints[locators].run(
            batch_parameters={"dataframe": without_customer_ids(frame)},
            expectation_parameters={"as_of": pd.Timestamp(as_of),
                                    "earliest": pd.Timestamp(settings.earliest_order_date())},
        )
        suite_result = next(iter(result.run_results.values()))
        success = success and bool(suite_result.success)
        evaluated = len(suite_result.results)
        for position, expectation_result in enumerate(suite_result.results):
            details = expectation_result.result or {}
            if "element_count" in details:
                checked_rows[position] = (checked_rows.get(position, 0) + int(details["element_count"])
                                          - int(details.get("missing_count") or 0))
            if not expectation_result.success:
                _merge_failure(merged, position, _describe_failure(expectation_result, frame))
    failures = [_with_observed(merged[position], checked_rows.get(position)) for position in sorted(merged)]
    docs = docs_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return SuiteOutcome(name, table, success, evaluated, failures, str(docs) if docs.exists() else None)


def _merge_failure(merged: dict[int, dict], position: int, failure: dict) -> None:
    if position not in merged:
        merged[position] = failure
        return
    kept = merged[position]
    if kept["unexpected_count"] is not None and failure["unexpected_count"] is not None:
        kept["unexpected_count"] += failure["unexpected_count"]
    kept["sample"] = (kept["sample"] + failure["sample"])[:SAMPLE_ROWS]


def _with_observed(failure: dict, checked_rows: int | None) -> dict:
    """The failure as reported: offending rows over every batch (share of non-missing rows), then what was expected."""
    failure = dict(failure)
    if failure["unexpected_count"] is not None:
        share = 100.0 * failure["unexpected_count"] / checked_rows if checked_rows else 0.0
        failure["observed"] = f"{failure['unexpected_count']} offending row(s) ({share:.2f}%)"
    if failure["expected"]:
        failure["observed"] += f"; expected {failure['expected']}"
    return failure


def _describe_failure(result, frame: pd.DataFrame) -> dict:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format")}
    where = ""
    if "column" in kwargs:
        where = f" on column {kwargs['column']}"
    elif "column_list" in kwargs:
        where = f" on columns {kwargs['column_list']}"
    details = result.result or {}
    unexpected = None
    if "unexpected_count" in details:
        unexpected, observed = int(details["unexpected_count"]), ""
    elif "observed_value" in details:
        observed = f"observed {details['observed_value']!r}"
    elif result.exception_info and result.exception_info.get("raised_exception"):
        observed = f"could not be evaluated: {result.exception_info.get('exception_message')}"
    else:
        observed = "failed"
    bounds = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "value_set", "regex", "type_list")}
    return {"expectation": config.type, "where": where, "observed": observed, "expected": bounds or None,
            "unexpected_count": unexpected,
            "sample": _sample_rows(details, frame, kwargs)}


def _sample_rows(details: dict, frame: pd.DataFrame, kwargs: dict) -> list[str]:
    indices = details.get("partial_unexpected_index_list") or []
    columns = [c for c in (kwargs.get("column"), *kwargs.get("column_list", [])) if c]
    rows = []
    for entry in indices[:SAMPLE_ROWS]:
        if isinstance(entry, dict):
            where = ", ".join(f"{k}={entry[k]}" for k in ROW_LOCATORS if k in entry)
            values = ", ".join(f"{k}={_shown(k, entry[k])}" for k in columns if k in entry)
            rows.append(f"{where}: {values}" if values else where)
    if not rows and details.get("partial_unexpected_list"):
        rows = [f"value {_plain(v)}" for v in details["partial_unexpected_list"][:SAMPLE_ROWS]]
    return rows


# A well-formed customer id names a person: logs and ops.validation_results show where the row is,
# not whose it is. A malformed one is the problem being reported, so it is shown as it is.
WELL_FORMED_CUSTOMER_ID = re.compile(r"[0-9A-Za-z_-]+")


def without_customer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each well-formed customer id replaced by its pseudonym (a malformed one is the
    problem being reported and stays as it is); unchanged when ids are to be shown."""
    if "customer_id" not in frame.columns or settings.show_customer_ids():
        return frame
    codes, distinct = pd.factorize(frame["customer_id"])  # each id hashed once, however many lines
    well_formed = [isinstance(v, str) and WELL_FORMED_CUSTOMER_ID.fullmatch(v) is not None for v in distinct]
    pseudonyms = pseudonymise(distinct[well_formed]) if any(well_formed) else []
    shown = pd.Series(distinct, dtype=object)
    shown[well_formed] = pseudonyms
    out = frame.copy(deep=False)
    out["customer_id"] = pd.Series(shown.to_numpy()[codes], index=frame.index, dtype=object).where(codes >= 0, None)
    return out


def _shown(column: str, value) -> str:
    if column == "customer_id" and not settings.show_customer_ids() and isinstance(value, str) and WELL_FORMED_CUSTOMER_ID.fullmatch(value):
        return "<a customer id>"
    return _plain(value)


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


def uniqueness_keys(definition: dict) -> list[str]:
    """Columns every uniqueness expectation of a suite shares: batches split by them lose no duplicate."""
    key_sets = []
    for expectation in definition["expectations"]:
        kwargs = expectation["kwargs"]
        if expectation["type"] == "expect_column_values_to_be_unique":
            key_sets.append({kwargs["column"]})
        elif expectation["type"] == "expect_compound_columns_to_be_unique":
            key_sets.append(set(kwargs["column_list"]))
    if not key_sets:
        return []
    shared = set.intersection(*key_sets)
    if not shared:
        raise ValueError(f"suite {definition['name']}: its uniqueness expectations share no column to batch by")
    return sorted(shared)


def staged_batches(wh: Warehouse, table: str, keys: list[str], batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """A staged table in batches of about `batch_rows`, each key's rows all in one batch.

    One batch (the whole table) when it is small. Otherwise rows are split by a hash of `keys`
    (or streamed in order when the suite has no uniqueness to keep). Empty hash buckets are skipped.
    """
    batch_rows = batch_rows or VALIDATION_BATCH_ROWS
    rows = wh.row_count(table)
    parts = max(1, -(-rows // batch_rows))
    if parts == 1:
        yield read_staged(wh, table)
        return
    if not keys:
        yield from wh.query_batches(f"SELECT * FROM {table}", batch_rows)
        return
    # One pass sorted by bucket (the warehouse sorts out of core), not one scan per bucket: at 1M
    # customers that is 64 scans of the order lines and 125 of the events.
    bucket = wh.hash_bucket_sql(keys, parts)
    order = ", ".join(keys)
    yield from wh.query_runs(f"SELECT *, {bucket} AS valueflow_bucket FROM {table} ORDER BY valueflow_bucket, {order}",
                             "valueflow_bucket")


def record_outcome(wh: Warehouse, outcome: SuiteOutcome, as_of: dt.date, run_id: str) -> None:
    row = pd.DataFrame([{
        "run_id": run_id, "as_of_date": as_of, "suite": outcome.suite, "dataset": outcome.table,
        "success": outcome.success, "evaluated": outcome.evaluated, "failed": len(outcome.failures),
        "failures": json.dumps(outcome.failures, default=str), "data_docs": outcome.data_docs or "",
        "validated_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    wh.replace_partition(catalog.VALIDATION_RESULTS, row, {"run_id": run_id, "suite": outcome.suite})


def strict_repeats(definition: dict) -> dict:
    """The suite with its exact-repeat tolerance removed (the `fail` policy for repeated lines)."""
    expectations = []
    for expectation in definition["expectations"]:
        kwargs = expectation["kwargs"]
        if expectation["type"] == "expect_compound_columns_to_be_unique" and "mostly" in kwargs:
            expectation = {**expectation, "kwargs": {k: v for k, v in kwargs.items() if k != "mostly"}}
        expectations.append(expectation)
    return {**definition, "expectations": expectations}


def validate_staged(wh: Warehouse, as_of: dt.date, run_id: str, orders_before: dt.date | None = None,
                    no_repeats: bool = False) -> list[SuiteOutcome]:
    """Validate every staged table that has a suite; raise ValidationFailed naming all failures.

    Order lines must be dated before `orders_before` (default: the as-of date; later for a
    backfilled run, whose export legitimately holds orders after the date it stands for).
    `no_repeats` fails on any exact repeat of an order line, not only on more than the suite tolerates.
    """
    outcomes = []
    for suite_file in sorted(settings.expectations_dir().glob("raw_*.json")):
        dataset = suite_file.stem[len("raw_"):]
        table = f"raw.stage_{dataset}"
        if not wh.table_exists(table):
            continue
        definition = load_suite_definition(suite_file.stem)
        if no_repeats:
            definition = strict_repeats(definition)
        outcome = validate_batches(staged_batches(wh, table, uniqueness_keys(definition)), suite_file.stem,
                                   orders_before or as_of, table, definition=definition)
        record_outcome(wh, outcome, as_of, run_id)
        outcomes.append(outcome)
        log.info("validated %s: %s", table, "passed" if outcome.success else "FAILED")
    failed = [o for o in outcomes if not o.success]
    if failed:
        raise ValidationFailed("Validation failed; nothing downstream was written.\n"
                               + "\n".join(o.describe() for o in failed))
    return outcomes
