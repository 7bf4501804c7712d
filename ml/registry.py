"""The MLflow model registry: challengers, champions and their aliases."""
from __future__ import annotations

from ml.families.base import ModelRef

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

# Tags on model versions (and runs), named once: promotion writes them, scoring and the UI read them.
ROLE_TAG = "valueflow.role"
DECISION_TAG = "valueflow.decision"
DECISION_REASON_TAG = "valueflow.decision_reason"
DECIDED_AS_OF_TAG = "valueflow.decided_as_of"
KIND_TAG = "valueflow.kind"  # which candidate of a family won (cnn, bgnbd, als, ...)
PARENT_RUN_TAG = "valueflow.parent_run_id"
CANDIDATE_TAG = "valueflow.candidate"
FAMILY_TAG = "valueflow.family"
AS_OF_TAG = "valueflow.as_of_date"
DIGEST_TAG = "valueflow.model_digest"  # sha256 of the version's artifact files (ml.model_digest)
PROMOTED = "promoted"
BASELINE_SERVED = "baseline_served"
BACKFILL_PROMOTED = "promoted_for_backfill"  # beat the policy for an earlier date than the champion's
SERVING_DECISIONS = (PROMOTED, BASELINE_SERVED, BACKFILL_PROMOTED)
BASELINE_ROLE = "baseline"
BASELINE_KIND_PREFIX = "baseline:"


def _client():
    from mlflow.tracking import MlflowClient

    from ml import tracking

    return MlflowClient(tracking.configure())


def _digest(model_uri: str) -> dict[str, str]:
    """The digest tag a version is registered with (with it, not after: no version goes unrecorded)."""
    from ml.model_digest import model_digest

    return {DIGEST_TAG: model_digest(model_uri)}


def register_challenger(model_uri: str, name: str, run_id: str, description: str = "") -> ModelRef:
    """Register a logged model as a new version of `name` and point alias `challenger` at it."""
    import mlflow

    from ml import tracking

    tracking.configure()
    version = mlflow.register_model(model_uri, name, tags={ROLE_TAG: CHALLENGER, **_digest(model_uri)})
    client = _client()
    if description:
        client.update_model_version(name, version.version, description=description)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return ModelRef(name=name, version=str(version.version), run_id=run_id)


def register_baseline(model_uri: str, name: str, run_id: str, baseline: str, description: str = "") -> ModelRef:
    """Register a logged baseline as a new version of `name` (no alias moves; promotion decides)."""
    import mlflow

    from ml import tracking

    tracking.configure()
    kind = f"{BASELINE_KIND_PREFIX}{baseline}"
    version = mlflow.register_model(model_uri, name, tags={ROLE_TAG: BASELINE_ROLE, KIND_TAG: kind, **_digest(model_uri)})
    if description:
        _client().update_model_version(name, version.version, description=description)
    return ModelRef(name=name, version=str(version.version), run_id=run_id, kind=kind)


def _ref(name: str, version) -> ModelRef:
    return ModelRef(name=name, version=str(version.version), run_id=version.run_id,
                    kind=(version.tags or {}).get(KIND_TAG, ""))


def get_alias(name: str, alias: str) -> ModelRef | None:
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return _ref(name, version)


def set_alias(ref: ModelRef, alias: str) -> None:
    _client().set_registered_model_alias(ref.name, alias, ref.version)


def tag_version(ref: ModelRef, tags: dict[str, str], description: str | None = None) -> None:
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(ref.name, ref.version, key, str(value))
    if description is not None:
        client.update_model_version(ref.name, ref.version, description=description)


def version_tags(name: str, version: str) -> dict[str, str]:
    return dict(_client().get_model_version(name, version).tags or {})


def get_version(name: str, version: str) -> ModelRef:
    return _ref(name, _client().get_model_version(name, version))



def parent_run_params(ref: ModelRef) -> dict[str, str]:
    """The params of the training run a version was chosen in (its `valueflow.parent_run_id` tag);
    families record there what was trained beside the winner (e.g. the baselines' run ids)."""
    client = _client()
    parent = client.get_model_version(ref.name, ref.version).tags.get(PARENT_RUN_TAG)
    return dict(client.get_run(parent).data.params) if parent else {}


def decided_as_of(ref: ModelRef) -> str | None:
    """The as-of date (YYYY-MM-DD) at which this version was judged against the champion, if it was."""
    return _client().get_model_version(ref.name, ref.version).tags.get(DECIDED_AS_OF_TAG)


def champion_at(name: str, as_of: str) -> ModelRef | None:
    """The model that was champion for an as-of date: the current champion unless it was chosen
    after that date, else the newest version promoted at or before it (None if there was none).

    A champion chosen at a later date learnt from orders after `as_of`; scoring a past date (a
    backfill) with it would leak them into that date's marts.
    """
    champion = get_alias(name, CHAMPION)
    if champion is None:
        return None
    chosen_on = decided_as_of(champion)
    if chosen_on is None or chosen_on <= as_of:
        return champion
    earlier = [v for v in _client().search_model_versions(f"name = '{name}'")
               if v.tags.get(DECISION_TAG) in SERVING_DECISIONS and v.tags.get(DECIDED_AS_OF_TAG, "9999") <= as_of]
    if not earlier:
        return None
    best = max(earlier, key=lambda v: (v.tags[DECIDED_AS_OF_TAG], int(v.version)))
    return _ref(name, best)
