"""Drift: how far the inputs and scores of each scoring run have moved from what the champion learnt on.

`compare` runs Evidently's data-drift preset on two frames (per-column method, score and verdict, the
share of drifted columns, the HTML report); each family's `drift.py` says which frames those are (its
model inputs at the champion's training origins and at the scored date); `check` applies the family's
policy (`drift:` in config/policies/<family>.yaml: warn or request a retrain), writes
`ops.drift_reports` and the report, and logs the report on the scoring model's MLflow run.
"""
