"""Fit K-means on the non-held-out active customers, log it to MLflow and register the challenger."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd

from ml import registry, tracking
from ml.families.base import ModelRef
from ml.families.segmentation import config, kmeans, metrics, rules
from ml.families.segmentation.config import NAME
from ml.families.segmentation.features import LOG_FEATURES, SEGMENT_FEATURES, train_and_holdout
from ml.families.segmentation.pyfunc import SegmentPredictor, log_model
from ml.families.segmentation.rfm import rfm_baseline_labels
from ml.warehouse import Warehouse


def train(wh: Warehouse, as_of: dt.date) -> ModelRef:
    import mlflow

    cfg = config.load()
    train_frame, _ = train_and_holdout(wh, as_of, cfg)
    selection = kmeans.choose_k(train_frame, cfg)
    pipeline = kmeans.make_pipeline(selection.k, cfg).fit(train_frame)
    labels = pipeline[-1].labels_
    profile = kmeans.profile_segments(train_frame, labels)
    names = kmeans.name_segments(profile, train_frame[list(SEGMENT_FEATURES)].median(), cfg)
    segment_rules = rules.fit_rules(train_frame, labels, names, cfg)
    space = metrics.evaluation_space(train_frame)
    fitted = metrics.clustering_metrics(space, labels, cfg)
    baseline = metrics.clustering_metrics(space, rfm_baseline_labels(train_frame), cfg)
    with tracking.start_run(NAME, as_of, run_name=f"kmeans-k{selection.k}-{as_of}") as run:
        mlflow.log_params({"algorithm": "kmeans", "k": selection.k, "k_range": f"{cfg.k_min}-{cfg.k_max}",
                           "k_criterion": "max silhouette on a sample", "features": ",".join(SEGMENT_FEATURES),
                           "log_features": ",".join(LOG_FEATURES), "seed": cfg.seed,
                           "training_customers": len(train_frame), "as_of_date": as_of.isoformat(),
                           "rule_max_depth": cfg.rule_max_depth})
        mlflow.log_metrics(fitted)
        mlflow.log_metrics({f"baseline_rfm_{k}": v for k, v in baseline.items()})
        for k, score in selection.silhouette_by_k.items():
            mlflow.log_metric("silhouette_by_k", score, step=k)
        for segment_id, row in profile.iterrows():
            mlflow.log_metric(f"segment_share_{segment_id}", float(row["share"]))
        dataset = mlflow.data.from_pandas(train_frame, name=f"user_features@{as_of}")
        mlflow.log_input(dataset, context="training")
        rules.log_rules(segment_rules)
        _log_profiles(profile, names, segment_rules)
        info = log_model(SegmentPredictor(pipeline, names, segment_rules), train_frame[list(SEGMENT_FEATURES)].head(5))
        description = f"K-means k={selection.k} as of {as_of}: " + ", ".join(sorted(set(names.values())))
        ref = registry.register_challenger(info.model_uri, NAME, run.info.run_id, description)
    registry.tag_version(ref, {registry.KIND_TAG: "kmeans"})
    return ref


def _log_profiles(profile: pd.DataFrame, names: dict[int, str], segment_rules: dict[int, rules.SegmentRule]) -> None:
    """The segment profiles, with each segment's rule, as a plot and as a JSON table, artifacts of the active run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / "segment_profiles.png"
        _profile_plot(profile, names, segment_rules, plot)
        mlflow.log_artifact(str(plot))
        table = profile.assign(segment_name=[names[i] for i in profile.index],
                               rule=[segment_rules[i].text for i in profile.index],
                               rule_coverage=[segment_rules[i].coverage for i in profile.index],
                               rule_precision=[segment_rules[i].precision for i in profile.index])
        (Path(tmp) / "segment_profiles.json").write_text(table.reset_index().to_json(orient="records"))
        mlflow.log_artifact(str(Path(tmp) / "segment_profiles.json"))


def _profile_plot(profile: pd.DataFrame, names: dict[int, str], segment_rules: dict[int, rules.SegmentRule],
                  path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(SEGMENT_FEATURES)
    relative = profile[columns] / profile[columns].median().replace(0, 1)
    footnote = [f"{names[i]}: {r.text} (covers {r.coverage:.0%}, precision {r.precision:.0%})"
                for i, r in segment_rules.items()]
    fig, (ax_profile, ax_size) = plt.subplots(1, 2, figsize=(13, 4.5 + 0.16 * len(footnote)),
                                              gridspec_kw={"width_ratios": [3, 1]})
    relative.index = [names[i] for i in relative.index]
    relative.T.plot.bar(ax=ax_profile)
    ax_profile.set_ylabel("segment median / median of segments")
    ax_profile.set_title("Segment profiles")
    ax_profile.legend(fontsize=8)
    ax_size.barh([names[i] for i in profile.index], profile["share"])
    ax_size.set_title("Share of customers")
    # the rules under the plot, so the picture reads without the JSON beside it
    fig.tight_layout(rect=(0, 0.16 * len(footnote) / fig.get_figheight(), 1, 1))
    fig.text(0.01, 0.01, "\n".join(footnote), fontsize=8, va="bottom", family="sans-serif")
    fig.savefig(path, dpi=110)
    plt.close(fig)
