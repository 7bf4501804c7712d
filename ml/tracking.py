"""MLflow set-up: where runs go, and a clear error when the tracking server is down."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator

from ml import settings


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached; nothing was logged or registered."""


def configure() -> str:
    """Point MLflow at the configured store and check that it answers."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = settings.mlflow_tracking_uri()
    if uri.startswith("sqlite:///"):
        settings.state_dir().mkdir(parents=True, exist_ok=True)
    if uri.startswith("http"):
        # Fail fast on a dead server instead of retrying for minutes.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as error:
        raise TrackingUnavailable(f"MLflow tracking store {uri} is not reachable: {error}") from error
    return uri


def experiment_name(family: str) -> str:
    return f"{settings.EXPERIMENT_PREFIX}-{family}"


def ensure_experiment(family: str) -> str:
    import mlflow

    name = experiment_name(family)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if not settings.mlflow_tracking_uri().startswith("http"):
        # A local store keeps artifacts under var/, never in the working directory.
        artifact_location = f"{settings.mlflow_artifact_root().rstrip('/')}/{name}"
    return mlflow.create_experiment(name, artifact_location=artifact_location)


@contextlib.contextmanager
def start_run(family: str, as_of: dt.date, run_name: str, tags: dict[str, str] | None = None,
              nested: bool = False) -> Iterator:
    """An MLflow run in the family's experiment, tagged with the as-of date."""
    import mlflow

    configure()
    experiment_id = ensure_experiment(family)
    from ml import registry

    all_tags = {registry.FAMILY_TAG: family, registry.AS_OF_TAG: as_of.isoformat(), **(tags or {})}
    airflow_run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    if airflow_run:
        all_tags["airflow.dag_run_id"] = airflow_run
        all_tags["airflow.dag_id"] = os.environ.get("AIRFLOW_CTX_DAG_ID", "")
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags, nested=nested) as run:
        yield run
