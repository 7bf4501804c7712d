"""Purchase and churn propensity: who buys in the next 30 days, and who is slipping away.

Plain functions on DataFrames and arrays, one module per stage, in pipeline order:

* `labels`      what an order is, who is active, the label "buys in [D, D+30 days)", rolling origins
* `inputs`      point-in-time model inputs: a weekly activity sequence and static RFM-style features
* `dataset`     training examples stacked over several past as-of dates (rolling origins)
* `calibration` Platt / isotonic maps fitted on the validation split
* `linear`      the regularised logistic regression on the standardised static features
* `gbm`         LightGBM on the static features, trees sized to the number of rows
* `cnn`         the Keras Conv1D model over the weekly sequence, fused with the static features
* `model`       `PropensityModel`: one fitted model + scaler + calibrator behind `predict_proba(frame)`
* `metrics`     ROC/PR AUC and its standard error, log loss, Brier, top-decile lift and capture, plots, recency baseline

Nothing here touches the warehouse, MLflow or Airflow; `ml.families.propensity` wires it.
"""
from ml.families.propensity.family import FAMILY

__all__ = ["FAMILY"]
