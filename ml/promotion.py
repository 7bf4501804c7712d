"""Champion/challenger: apply a family's promotion policy and move the registry aliases.

A policy (`config/policies/<family>.yaml`) names the primary metric, its direction, the minimum gain
over the champion, the minimum gain over the naive baseline (used when there is no champion yet),
and guardrails that must hold whatever the metric says.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

import pandas as pd
import yaml

from ml import catalog, registry, settings
from ml.families.base import Evaluation, ModelFamily, ModelRef
from ml.warehouse import Warehouse

POLICY_KEYS = {"metric", "direction", "min_gain", "baseline_min_gain", "guardrails", "description", "live", "drift"}
GUARDRAIL_KEYS = {"metric", "source", "min", "max", "min_vs_baseline"}
LIVE_KEYS = {"metric", "min_vs_baseline", "max_vs_baseline"}
DRIFT_KEYS = {"warn_share", "retrain_share"}
PROMOTIONS_TABLE = catalog.MODEL_PROMOTIONS


class PolicyError(ValueError):
    """A policy file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class LiveFloor:
    """What the champion's scores must keep doing once their horizon has passed (`evaluate_outcomes`):
    `metric` (an outcome metric such as roc_auc_30d) at least `min_vs_baseline` x the best baseline's
    (higher is better), or at most `max_vs_baseline` x (errors). Relative, like the guardrails."""
    metric: str
    min_vs_baseline: float | None = None
    max_vs_baseline: float | None = None

    def breach(self, value: float, baseline: float | None) -> str | None:
        """Why `value` falls below the floor, or None (also when either side was not measured)."""
        if baseline is None or math.isnan(value) or math.isnan(baseline):
            return None
        if self.min_vs_baseline is not None and value < self.min_vs_baseline * baseline:
            return f"{self.metric}={value:.4f} below {self.min_vs_baseline} x the best baseline's {baseline:.4f}"
        if self.max_vs_baseline is not None and value > self.max_vs_baseline * baseline:
            return f"{self.metric}={value:.4f} above {self.max_vs_baseline} x the best baseline's {baseline:.4f}"
        return None


@dataclass(frozen=True)
class DriftPolicy:
    """What the drift check of a scoring run does (`ml.drift.check`), judged on the share of the
    model's input columns Evidently finds drifted from the champion's training data: at least
    `retrain_share` requests a retrain (the train DAG's drift Asset), at least `warn_share` warns.
    Drifted scores alone warn."""
    warn_share: float = 0.3
    retrain_share: float = 0.5

    def action(self, input_share: float, scores_drifted: bool) -> tuple[str, str]:
        """("retrain" | "warn" | "none", why)."""
        if not math.isnan(input_share) and input_share >= self.retrain_share:
            return "retrain", f"{input_share:.0%} of the inputs drifted (retrain at {self.retrain_share:.0%})"
        if not math.isnan(input_share) and input_share >= self.warn_share:
            return "warn", f"{input_share:.0%} of the inputs drifted (warn at {self.warn_share:.0%})"
        if scores_drifted:
            return "warn", "the scores drifted from the champion's earlier scores"
        share = "not measured" if math.isnan(input_share) else f"{input_share:.0%}"
        return "none", f"inputs drifted: {share} (warn at {self.warn_share:.0%})"


@dataclass(frozen=True)
class Guardrail:
    metric: str
    source: str = "challenger"  # challenger | pairwise
    min: float | None = None
    max: float | None = None
    # At least this multiple of the naive baseline's value on the same holdout: a floor that moves
    # with what the shop allows (a top-decile lift of 1.5 is out of reach where most customers buy).
    min_vs_baseline: float | None = None

    def check(self, evaluation: Evaluation) -> str | None:
        """None when the guardrail holds (or does not apply), else why it fails."""
        values = evaluation.pairwise if self.source == "pairwise" else evaluation.challenger
        if self.source == "pairwise" and evaluation.champion is None:
            return None  # nothing to compare with yet
        value = values.get(self.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"guardrail metric {self.metric} was not computed"
        if self.min is not None and value < self.min:
            return f"{self.metric}={value:.4f} below guardrail minimum {self.min}"
        if self.max is not None and value > self.max:
            return f"{self.metric}={value:.4f} above guardrail maximum {self.max}"
        if self.min_vs_baseline is not None:
            base = evaluation.baseline.get(self.metric)
            if base is None or (isinstance(base, float) and math.isnan(base)):
                return f"guardrail metric {self.metric} was not computed for the baseline"
            if value < self.min_vs_baseline * base:
                return (f"{self.metric}={value:.4f} below {self.min_vs_baseline} x the baseline's {base:.4f}")
        return None


@dataclass(frozen=True)
class Policy:
    metric: str
    direction: str  # maximize | minimize
    min_gain: float = 0.0
    baseline_min_gain: float = 0.0
    guardrails: tuple[Guardrail, ...] = field(default_factory=tuple)
    live: LiveFloor | None = None
    drift: DriftPolicy = field(default_factory=DriftPolicy)

    def gain(self, new: float, old: float) -> float:
        return new - old if self.direction == "maximize" else old - new


def load_policy(family: str) -> Policy:
    path = settings.policies_dir() / f"{family}.yaml"
    if not path.exists():
        raise PolicyError(f"no promotion policy file {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = set(raw) - POLICY_KEYS
    if unknown:
        raise PolicyError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {sorted(POLICY_KEYS)}")
    if "metric" not in raw or raw.get("direction") not in ("maximize", "minimize"):
        raise PolicyError(f"{path}: needs `metric` and `direction: maximize|minimize`")
    guardrails = []
    for item in raw.get("guardrails") or []:
        extra = set(item) - GUARDRAIL_KEYS
        if extra or "metric" not in item or item.get("source", "challenger") not in ("challenger", "pairwise"):
            raise PolicyError(f"{path}: malformed guardrail {item}; fields {sorted(GUARDRAIL_KEYS)}")
        guardrails.append(Guardrail(**item))
    live = raw.get("live")
    if live is not None:
        bounds = [k for k in ("min_vs_baseline", "max_vs_baseline") if k in (live or {})]
        if not isinstance(live, dict) or set(live) - LIVE_KEYS or "metric" not in live or len(bounds) != 1:
            raise PolicyError(f"{path}: malformed `live` {live}; needs `metric` and one of min_vs_baseline, "
                              "max_vs_baseline")
        live = LiveFloor(str(live["metric"]), **{bounds[0]: float(live[bounds[0]])})
    drift = raw.get("drift") or {}
    if not isinstance(drift, dict) or set(drift) - DRIFT_KEYS or not all(
            isinstance(v, int | float) and 0 < v <= 1 for v in drift.values()):
        raise PolicyError(f"{path}: malformed `drift` {drift}; fields {sorted(DRIFT_KEYS)}, shares in (0, 1]")
    drift = DriftPolicy(**{k: float(v) for k, v in drift.items()})
    if drift.warn_share > drift.retrain_share:
        raise PolicyError(f"{path}: drift warn_share {drift.warn_share} is above retrain_share {drift.retrain_share}")
    return Policy(raw["metric"], raw["direction"], float(raw.get("min_gain", 0.0)),
                  float(raw.get("baseline_min_gain", 0.0)), tuple(guardrails), live, drift)


@dataclass
class Decision:
    promote: bool
    reason: str
    challenger_value: float
    reference_value: float  # the champion's value, or the baseline's with no champion
    reference: str  # "champion" or "baseline"
    # kept out of `champion` only because a newer champion exists: it serves its own (earlier) date
    backfill: bool = False


def decide(policy: Policy, evaluation: Evaluation) -> Decision:
    """Promote only if the challenger beats the reference by the policy's margin and no guardrail fails."""
    metric = policy.metric
    challenger_value = evaluation.challenger[metric]
    if evaluation.champion is not None:
        reference, reference_value, margin = "champion", evaluation.champion[metric], policy.min_gain
    else:
        reference, reference_value, margin = "baseline", evaluation.baseline[metric], policy.baseline_min_gain
    failures = [why for g in policy.guardrails if (why := g.check(evaluation))]
    gain = policy.gain(challenger_value, reference_value)
    summary = f"{metric}: challenger {challenger_value:.4f} vs {reference} {reference_value:.4f} (gain {gain:+.4f}, needs > {margin})"
    if failures:
        return Decision(False, f"guardrail failed: {'; '.join(failures)}. {summary}", challenger_value,
                        reference_value, reference)
    if not gain > margin:
        return Decision(False, f"not better than the {reference}. {summary}", challenger_value, reference_value, reference)
    return Decision(True, f"beats the {reference}. {summary}", challenger_value, reference_value, reference)


def keep_newer_champion(decision: Decision, champion: ModelRef | None, as_of: dt.date) -> Decision:
    """A challenger trained for an earlier date than the champion's (a backfill) is judged and
    recorded but never promoted: a backfill fills in the past, it does not roll the champion back."""
    if not decision.promote or champion is None:
        return decision
    chosen_on = registry.decided_as_of(champion)
    if chosen_on is None or chosen_on <= as_of.isoformat():
        return decision
    return Decision(False, f"trained for {as_of.isoformat()}, before the champion's date {chosen_on} (a backfill): "
                           f"kept out of the champion alias but serves {as_of.isoformat()}, since by the policy it "
                           f"{decision.reason}",
                    decision.challenger_value, decision.reference_value, decision.reference, backfill=True)


def promote_challenger(wh: Warehouse, family: ModelFamily, as_of: dt.date, pipeline_run_id: str = "") -> Decision:
    """Evaluate the current challenger beside the champion, decide, move aliases, record the decision."""
    challenger = registry.get_alias(family.name, registry.CHALLENGER)
    if challenger is None:
        raise LookupError(f"registered model {family.name!r} has no {registry.CHALLENGER!r} alias; train it first")
    champion = registry.get_alias(family.name, registry.CHAMPION)
    if champion is not None and champion.version == challenger.version:
        return Decision(False, "the challenger is already the champion", math.nan, math.nan, "champion")
    policy = load_policy(family.name)
    evaluation = family.evaluate(wh, as_of, challenger, champion)
    decision = keep_newer_champion(decide(policy, evaluation), champion, as_of)
    if decision.promote:
        registry.set_alias(challenger, registry.CHAMPION)
        if champion is not None:
            registry.set_alias(champion, registry.PREVIOUS_CHAMPION)
    _record(wh, family, as_of, challenger, champion, policy, evaluation, decision, pipeline_run_id,
            verdict=registry.BACKFILL_PROMOTED if decision.backfill else None)
    if not decision.promote and not decision.backfill and registry.champion_at(family.name, as_of.isoformat()) is None:
        return serve_best_baseline(wh, family, as_of, policy, evaluation, decision, pipeline_run_id,
                                   move_champion=champion is None)
    return decision


def serve_best_baseline(wh: Warehouse, family: ModelFamily, as_of: dt.date, policy: Policy, evaluation: Evaluation,
                        rejected: Decision, pipeline_run_id: str, move_champion: bool = True) -> Decision:
    """Nothing learnt beat the best baseline and nothing serves this date: register that baseline,
    so the shop still gets its mart. It becomes the champion (the next challenger must beat it)
    unless a newer champion exists, in which case it serves only this earlier date (a backfill)."""
    if family.register_baseline is None or not evaluation.baseline_name:
        return rejected
    baseline = family.register_baseline(wh, as_of, evaluation.baseline_name)
    if move_champion:
        registry.set_alias(baseline, registry.CHAMPION)
    reason = (f"no learned challenger beat the best baseline, so {evaluation.baseline_name} serves until one does "
              f"({rejected.reason})")
    decision = Decision(move_champion, reason, evaluation.baseline[policy.metric],
                        evaluation.baseline[policy.metric], "baseline", backfill=not move_champion)
    served = Evaluation(challenger=evaluation.baseline, baseline=evaluation.baseline, holdout=evaluation.holdout,
                        baseline_name=evaluation.baseline_name)
    _record(wh, family, as_of, baseline, None, policy, served, decision, pipeline_run_id,
            verdict=registry.BASELINE_SERVED)
    return decision


def _record(wh, family, as_of, challenger: ModelRef, champion: ModelRef | None, policy: Policy,
            evaluation: Evaluation, decision: Decision, pipeline_run_id: str, verdict: str | None = None) -> None:
    verdict = verdict or (registry.PROMOTED if decision.promote else "rejected")
    registry.tag_version(challenger, {
        registry.DECISION_TAG: verdict,
        registry.DECISION_REASON_TAG: decision.reason[:4000],
        f"valueflow.{policy.metric}": f"{decision.challenger_value:.6f}",
        registry.DECIDED_AS_OF_TAG: as_of.isoformat(),
    }, description=f"{verdict} on {as_of.isoformat()} against the {decision.reference}: {decision.reason}")
    row = pd.DataFrame([{
        "model_name": family.name,
        "challenger_version": challenger.version,
        "champion_version": champion.version if champion else None,
        "metric": policy.metric,
        "challenger_value": decision.challenger_value,
        "champion_value": evaluation.champion[policy.metric] if evaluation.champion else None,
        "baseline_value": evaluation.baseline.get(policy.metric),
        "decision": verdict,
        "reason": decision.reason,
        "holdout": evaluation.holdout,
        "metrics": json.dumps({"challenger": evaluation.challenger, "champion": evaluation.champion,
                               "baseline": evaluation.baseline, "baseline_name": evaluation.baseline_name,
                               "pairwise": evaluation.pairwise}, default=float),
        "run_id": challenger.run_id,
        "pipeline_run_id": pipeline_run_id,
        "as_of_date": as_of,
        "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    row["champion_version"] = row["champion_version"].astype("string")
    row["champion_value"] = row["champion_value"].astype("float64")
    wh.replace_partition(PROMOTIONS_TABLE, row, {"model_name": family.name, "challenger_version": challenger.version,
                                                 "as_of_date": as_of})


def rollback_champion(wh: Warehouse, model_name: str, to_version: str, reason: str) -> ModelRef:
    """Point `champion` back at an earlier version and record it like any other decision."""
    current = registry.get_alias(model_name, registry.CHAMPION)
    target = registry.get_version(model_name, to_version)
    registry.set_alias(target, registry.CHAMPION)
    registry.tag_version(target, {registry.DECISION_TAG: "rolled_back_to", registry.DECISION_REASON_TAG: reason})
    row = pd.DataFrame([{
        "model_name": model_name, "challenger_version": target.version,
        "champion_version": current.version if current else None, "metric": "", "challenger_value": math.nan,
        "champion_value": math.nan, "baseline_value": math.nan, "decision": "rollback", "reason": reason,
        "holdout": "", "metrics": "{}", "run_id": target.run_id, "pipeline_run_id": "manual",
        "as_of_date": dt.date.today(), "decided_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    row["champion_version"] = row["champion_version"].astype("string")
    wh.replace_partition(PROMOTIONS_TABLE, row, {"model_name": model_name, "challenger_version": target.version,
                                                 "decision": "rollback"})
    return target
