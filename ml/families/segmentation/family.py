"""Segmentation family: K-means segments of active customers, scored into marts.user_segments.

Holdout: a stable 20% of customers (hash of the id) as of D, never used for fitting. Challenger,
champion and the RFM baseline are all scored on it in one common feature space; the adjusted Rand
index between challenger and champion on those customers is the stability guardrail.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd

from ml import catalog, features, marts, registry, tracking
from ml.families.base import Evaluation, ModelFamily, ModelRef
from ml.families.segmentation import kmeans as segmentation
from ml.warehouse import Warehouse

NAME = "segmentation"
MART = catalog.USER_SEGMENTS
SCORE_BATCH_ROWS = 50_000


class SegmentModel:
    """pyfunc wrapper: feature rows in, (segment_id, segment_name) out."""

    def __init__(self, pipeline, names: dict[int, str]):
        self.pipeline = pipeline
        self.names = names

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        labels = self.pipeline.predict(frame)
        return pd.DataFrame({"segment_id": labels.astype("int64"),
                             "segment_name": [self.names[int(x)] for x in labels]})


def _pyfunc_class():
    import mlflow.pyfunc

    class SegmentPyfunc(mlflow.pyfunc.PythonModel):
        def __init__(self, model: SegmentModel):
            self.model = model

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return self.model.predict_frame(model_input)

    return SegmentPyfunc


def build_features(wh: Warehouse, as_of: dt.date) -> list[str]:
    features.build_user_features(wh, as_of)
    return [features.USER_FEATURES]


def _training_frame(wh: Warehouse, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = features.read_user_features(wh, as_of, active_only=True)
    segmentation.check_columns(frame)
    held_out = segmentation.holdout_mask(frame["customer_id"])
    return frame[~held_out].reset_index(drop=True), frame[held_out].reset_index(drop=True)


def _profile_plot(profile: pd.DataFrame, names: dict[int, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(segmentation.SEGMENT_FEATURES)
    relative = profile[columns] / profile[columns].median().replace(0, 1)
    fig, (ax_profile, ax_size) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    relative.index = [names[i] for i in relative.index]
    relative.T.plot.bar(ax=ax_profile)
    ax_profile.set_ylabel("segment median / median of segments")
    ax_profile.set_title("Segment profiles")
    ax_profile.legend(fontsize=8)
    ax_size.barh([names[i] for i in profile.index], profile["share"])
    ax_size.set_title("Share of customers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow
    from mlflow.models import infer_signature

    train_frame, _ = _training_frame(wh, as_of)
    selection = segmentation.choose_k(train_frame)
    pipeline = segmentation.make_pipeline(selection.k).fit(train_frame)
    labels = pipeline[-1].labels_
    profile = segmentation.profile_segments(train_frame, labels)
    names = segmentation.name_segments(profile, train_frame[list(segmentation.SEGMENT_FEATURES)].median())
    model = SegmentModel(pipeline, names)
    space = segmentation.evaluation_space(train_frame)
    metrics = segmentation.clustering_metrics(space, labels)
    baseline = segmentation.clustering_metrics(space, segmentation.rfm_baseline_labels(train_frame))
    with tracking.start_run(NAME, as_of, run_name=f"kmeans-k{selection.k}-{as_of}") as run:
        mlflow.log_params({"algorithm": "kmeans", "k": selection.k, "k_range": f"{min(segmentation.K_RANGE)}-{max(segmentation.K_RANGE)}",
                           "k_criterion": "max silhouette on a sample", "features": ",".join(segmentation.SEGMENT_FEATURES),
                           "log_features": ",".join(segmentation.LOG_FEATURES), "seed": segmentation.SEED,
                           "training_customers": len(train_frame), "as_of_date": as_of.isoformat()})
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({f"baseline_rfm_{k}": v for k, v in baseline.items()})
        for k, score in selection.silhouette_by_k.items():
            mlflow.log_metric("silhouette_by_k", score, step=k)
        for segment_id, row in profile.iterrows():
            mlflow.log_metric(f"segment_share_{segment_id}", float(row["share"]))
        dataset = mlflow.data.from_pandas(train_frame, name=f"user_features@{as_of}")
        mlflow.log_input(dataset, context="training")
        with tempfile.TemporaryDirectory() as tmp:
            plot = Path(tmp) / "segment_profiles.png"
            _profile_plot(profile, names, plot)
            mlflow.log_artifact(str(plot))
            table = profile.assign(segment_name=[names[i] for i in profile.index])
            (Path(tmp) / "segment_profiles.json").write_text(table.reset_index().to_json(orient="records"))
            mlflow.log_artifact(str(Path(tmp) / "segment_profiles.json"))
        example = train_frame[list(segmentation.SEGMENT_FEATURES)].head(5)
        signature = infer_signature(example, model.predict_frame(example))
        info = mlflow.pyfunc.log_model(name="model", python_model=_pyfunc_class()(model), signature=signature,
                                       input_example=example)
        description = f"K-means k={selection.k} as of {as_of}: " + ", ".join(sorted(set(names.values())))
        return registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)


def _load(ref: ModelRef):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(ref.uri)


def evaluate(wh: Warehouse, as_of: dt.date, challenger: ModelRef, champion: ModelRef | None) -> Evaluation:
    _, holdout = _training_frame(wh, as_of)
    if len(holdout) < 10:
        raise ValueError(f"only {len(holdout)} holdout customers as of {as_of}; too few to compare segmentations")
    inputs = holdout[list(segmentation.SEGMENT_FEATURES)]
    space = segmentation.evaluation_space(holdout)
    challenger_labels = _load(challenger).predict(inputs)["segment_id"].to_numpy()
    result = Evaluation(
        challenger=segmentation.clustering_metrics(space, challenger_labels),
        baseline=segmentation.clustering_metrics(space, segmentation.rfm_baseline_labels(holdout)),
        holdout=f"{len(holdout)} held-out active customers (stable 20% by id hash) as of {as_of}",
    )
    if champion is not None:
        from sklearn.metrics import adjusted_rand_score

        champion_labels = _load(champion).predict(inputs)["segment_id"].to_numpy()
        result.champion = segmentation.clustering_metrics(space, champion_labels)
        result.pairwise = {"adjusted_rand_vs_champion": float(adjusted_rand_score(champion_labels, challenger_labels))}
    return result


def score(wh: Warehouse, as_of: dt.date, champion: ModelRef) -> int:
    model = _load(champion)
    select = (f"SELECT customer_id, {', '.join(segmentation.SEGMENT_FEATURES)} FROM {features.USER_FEATURES} "
              f"WHERE as_of_date = DATE '{as_of.isoformat()}' AND is_active ORDER BY customer_id")

    def chunks():
        for batch in wh.query_batches(select, SCORE_BATCH_ROWS):
            scored = model.predict(batch[list(segmentation.SEGMENT_FEATURES)])
            yield pd.DataFrame({"customer_id": batch["customer_id"].astype(str).to_numpy(),
                                "segment_id": scored["segment_id"].to_numpy(),
                                "segment_name": scored["segment_name"].astype(str).to_numpy()})

    return marts.write_mart(wh, MART, chunks(), as_of, champion)


FAMILY = ModelFamily(name=NAME, mart=MART, build_features=build_features, train=train, evaluate=evaluate,
                     score=score, description="K-means customer segments")
