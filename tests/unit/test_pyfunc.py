"""The one pyfunc wrapper: a predictor pickled inside it, or saved as an artifact with its loader."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ml import pyfunc


class Doubler:
    """A plain predictor: the kind of object a family hands to `log_pyfunc`."""

    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def predict(self, frame: pd.DataFrame, k: int = 1) -> pd.DataFrame:
        return pd.DataFrame({"y": frame["x"].astype(float) * self.factor * k})


def save_doubler(predictor: Doubler, folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"factor": predictor.factor}))
    return folder


def load_doubler(folder: str) -> Doubler:
    return Doubler(json.loads((Path(folder) / "meta.json").read_text())["factor"])


def _log(tmp_path, **kwargs) -> str:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("pyfunc", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        return pyfunc.log_pyfunc(Doubler(3.0), pd.DataFrame({"x": [1.0, 2.0]}), **kwargs).model_uri


def test_a_pickled_predictor_round_trips_and_the_signature_holds(tmp_path):
    uri = _log(tmp_path, params={"k": 1})
    model = pyfunc.load_pyfunc(uri)
    assert model.predict(pd.DataFrame({"x": [1.0, 4.0]}), params={"k": 2})["y"].tolist() == [6.0, 24.0]
    assert isinstance(pyfunc.load_predictor(uri), Doubler)
    with pytest.raises(Exception, match="x"):  # the signature names the missing input column
        model.predict(pd.DataFrame({"z": [1.0]}))


def test_an_artifact_predictor_is_read_back_by_its_loader_not_unpickled(tmp_path):
    folder = save_doubler(Doubler(3.0), tmp_path / "saved")
    uri = _log(tmp_path, artifact=folder, loader=f"{__name__}:load_doubler")
    wrapper = pyfunc.PredictorPyfunc(Doubler(3.0), loader="m:f")
    assert wrapper.__getstate__()["predictor"] is None  # nothing of the predictor goes into the pickle
    assert pyfunc.load_pyfunc(uri).predict(pd.DataFrame({"x": [2.0]}))["y"].tolist() == [6.0]


def test_an_artifact_without_its_loader_is_refused():
    with pytest.raises(ValueError, match="loader"):
        pyfunc.log_pyfunc(Doubler(), pd.DataFrame({"x": [1.0]}), artifact="somewhere")


def test_the_stored_input_example_carries_no_customer_of_the_training_data():
    from ml.pyfunc import anonymised_example

    rows = pd.DataFrame({"customer_id": ["17850", "13047", "12583"], "recency_days": [3, 40, 200],
                         "monetary": [812.5, None, 90.0], "is_active": [True, False, True],
                         "segment": ["a", "b", "c"]})
    example = anonymised_example(rows)
    assert example["customer_id"].tolist() == ["example-1", "example-2", "example-3"]
    assert example["recency_days"].tolist() == [40, 40, 40] and example["recency_days"].dtype == rows["recency_days"].dtype
    assert example["monetary"].iloc[0] == example["monetary"].iloc[2] == pytest.approx(451.25)
    assert pd.isna(example["monetary"].iloc[1])  # missing stays missing: the signature allows it
    assert example["is_active"].tolist() == [True, False, True] and example["segment"].tolist() == ["a", "b", "c"]
    assert rows["customer_id"].tolist() == ["17850", "13047", "12583"]  # the caller's frame is untouched


# -- the digest recorded at registration and checked at load -------------------------------------

def _register_doubler(name: str = "digest-check"):
    import mlflow

    from ml import registry, tracking

    tracking.configure()
    with mlflow.start_run(experiment_id=tracking.ensure_experiment("digest")) as run:
        info = pyfunc.log_pyfunc(Doubler(3.0), pd.DataFrame({"x": [1.0, 2.0]}))
    return registry.register_challenger(info.model_uri, name, run.info.run_id)


def test_a_registered_version_records_its_digest_and_loads_untampered(mlflow_store):
    from ml import registry

    ref = _register_doubler()
    digest = registry.version_tags(ref.name, ref.version)[registry.DIGEST_TAG]
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert pyfunc.load_pyfunc(ref.uri).predict(pd.DataFrame({"x": [2.0]}))["y"].tolist() == [6.0]
    assert isinstance(pyfunc.load_predictor(ref.uri), Doubler)


def test_a_tampered_artifact_is_refused_before_it_is_unpickled(mlflow_store, state_home):
    from ml.model_digest import ModelDigestMismatch

    ref = _register_doubler()
    [pickled] = list(state_home.rglob("python_model.pkl"))  # the local store's copy, as an attacker would change it
    pickled.write_bytes(pickled.read_bytes() + b"\n")
    with pytest.raises(ModelDigestMismatch, match=rf"model {ref.name} version {ref.version}.*expected sha256:\w+, "
                                                  r"found sha256:\w+") as refused:
        pyfunc.load_pyfunc(ref.uri)
    assert isinstance(refused.value, ValueError) and refused.value.expected != refused.value.found
    with pytest.raises(ModelDigestMismatch):
        pyfunc.load_predictor(ref.uri)


def test_a_version_registered_before_digests_loads_with_a_warning(mlflow_store, caplog):
    from mlflow.tracking import MlflowClient

    from ml import registry

    ref = _register_doubler()
    MlflowClient().delete_model_version_tag(ref.name, ref.version, registry.DIGEST_TAG)
    with caplog.at_level("WARNING", logger="ml.model_digest"):
        assert pyfunc.load_pyfunc(ref.uri).predict(pd.DataFrame({"x": [1.0]}))["y"].tolist() == [3.0]
    assert f"model {ref.name} version {ref.version} has no recorded digest" in caplog.text


def test_the_folder_digest_depends_on_every_file_and_name_but_not_on_listing_order(tmp_path):
    from ml.model_digest import folder_digest

    first, second = tmp_path / "a", tmp_path / "b"
    for folder, names in ((first, ["MLmodel", "artifacts/w.bin"]), (second, ["artifacts/w.bin", "MLmodel"])):
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(name)
    assert folder_digest(first) == folder_digest(second)
    (second / "registered_model_meta").write_text("model_name: x")  # MLflow's client writes it on download
    assert folder_digest(first) == folder_digest(second)
    (second / "artifacts" / "w.bin").rename(second / "artifacts" / "v.bin")
    assert folder_digest(first) != folder_digest(second)
