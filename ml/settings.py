"""Non-secret defaults in one place. Importing this module has no side effects.

Secrets and deployment choices come from the environment:
  AIRFLOW_CONN_WAREHOUSE  warehouse URL (duckdb:///path or postgresql://user@host:port/db)
  MLFLOW_TRACKING_URI     MLflow tracking server or store
  VALUEFLOW_HOME          where state lives (default: <repo>/var)
  VALUEFLOW_CONFIG_DIR    the folder of policies, family settings, tiers and audiences (default: <repo>/config)
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ("raw", "features", "marts", "ops")


def state_dir() -> Path:
    """Folder holding all local state: warehouse file, MLflow store, Data Docs, Airflow home."""
    return Path(os.environ.get("VALUEFLOW_HOME", REPO_ROOT / "var")).resolve()


def warehouse_url() -> str:
    return os.environ.get("AIRFLOW_CONN_WAREHOUSE") or f"duckdb:///{state_dir() / 'warehouse.duckdb'}"


def duckdb_memory_limit() -> str:
    """DuckDB's buffer limit per connection; past it, sorts, windows and joins spill to disk.

    DuckDB's own default is 80% of the machine's memory, which several task processes would share.
    """
    return os.environ.get("VALUEFLOW_DUCKDB_MEMORY_LIMIT", "4GB")


def earliest_order_date() -> str:
    """Orders dated before it are refused by validation (a 1900 date is a broken export, not history)."""
    return os.environ.get("VALUEFLOW_EARLIEST_ORDER_DATE", "1990-01-01")


def min_customers() -> int:
    """Fewer customers with an order before the as-of date than this: no family can learn or be judged,
    so the export is refused before it replaces anything."""
    return int(os.environ.get("VALUEFLOW_MIN_CUSTOMERS", "50"))


def repeated_lines_policy() -> str:
    """What ingest does with order lines that repeat an earlier one exactly: keep, drop or fail
    (`ml.ingest.REPEATED_LINE_POLICIES`)."""
    return os.environ.get("VALUEFLOW_REPEATED_LINES", "keep")


def show_customer_ids() -> bool:
    """Debugging only: validation samples show well-formed customer ids instead of masking them."""
    return os.environ.get("VALUEFLOW_SHOW_CUSTOMER_IDS", "").lower() in ("1", "true", "yes")


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def mlflow_artifact_root() -> str:
    return os.environ.get("MLFLOW_ARTIFACT_ROOT") or (state_dir() / "mlartifacts").as_uri()


def data_docs_dir() -> Path:
    return state_dir() / "data_docs"


def expectations_dir() -> Path:
    return REPO_ROOT / "expectations"


def config_dir() -> Path:
    return Path(os.environ.get("VALUEFLOW_CONFIG_DIR", REPO_ROOT / "config")).resolve()


def policies_dir() -> Path:
    return config_dir() / "policies"


def family_config_path(family: str) -> Path:
    """A family's hyper-parameter overrides (defaults live in ml/families/<family>/config.py)."""
    return config_dir() / "families" / f"{family}.yaml"


EXPERIMENT_PREFIX = os.environ.get("VALUEFLOW_EXPERIMENT_PREFIX", "valueflow")


@contextlib.contextmanager
def workspace(home: Path) -> Iterator[None]:
    """Point the warehouse, MLflow and Airflow at `home` for the block (and the pipeline it starts):
    one shop's state kept apart from another's."""
    home.mkdir(parents=True, exist_ok=True)
    values = {"VALUEFLOW_HOME": str(home), "AIRFLOW_CONN_WAREHOUSE": f"duckdb:///{home / 'warehouse.duckdb'}",
              "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
              "MLFLOW_ARTIFACT_ROOT": (home / "mlartifacts").as_uri(), "AIRFLOW_HOME": str(home / "airflow"),
              "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
              "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "airflow" / "logs")}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
