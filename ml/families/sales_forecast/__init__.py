"""Sales forecast: weekly net units per product for the 4 weeks from D's Monday, into
marts.product_sales_forecast: per demand class, the candidate that won the rolling backtest (a pooled
LightGBM, L1 or Poisson, horizon as a feature; or a baseline: zero, 4/8-week means, seasonal naive, TSB).

Modules in pipeline order: `config` (settings), `calendar` (weeks, holidays), `features` (the SQL
weekly panel, features.product_weekly_sales), `panel` (its dense product x week matrices), `lags`
(lags and rolling means at a forecast origin), `intermittent` (TSB), `gbm` (LightGBM), `baselines`
(the simple forecasts), `intervals`, `metrics`, `model` (the registered `SalesForecaster`), `backtest`
(rolling origins, the per-class choice), `plots`, `train`, `pyfunc`, `evaluate`, `serve_baseline`
(`register_baseline`), `forecast` (the live forecast), `score` and `drift` (the product-weeks before the champion's origin and
D's, for `ml.drift`).
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.sales_forecast import drift, evaluate, features, score, serve_baseline, train
from ml.families.sales_forecast.config import NAME

FAMILY = ModelFamily(
    name=NAME, mart=catalog.PRODUCT_SALES_FORECAST, build_features=features.build_features, train=train.train,
    evaluate=evaluate.evaluate, score=score.score, register_baseline=serve_baseline.register_baseline, drift_inputs=drift.drift_inputs,
    description="Weekly product demand, 4 weeks ahead (per demand class: LightGBM L1/Poisson or a baseline)",
)

__all__ = ["FAMILY", "NAME"]
