"""Sales forecast: weekly net units per product for the 4 weeks from D's Monday, into
marts.product_sales_forecast (one pooled LightGBM, Poisson, horizon as a feature; linear and naive floors).

Modules in pipeline order: `config` (settings), `calendar` (weeks, holidays), `features` (the SQL
weekly panel, features.product_weekly_sales), `panel` (its dense product x week matrices), `lags`
(lags and rolling means at a forecast origin), `gbm` (LightGBM), `baselines` (linear regression, naive
floors), `intervals`, `metrics`, `backtest` (rolling origins), `model` (the registered
`SalesForecaster`), `plots`, `train`, `pyfunc`, `evaluate`, `fallback` (young products), `forecast`
(the live forecast) and `score`.
"""
from ml import catalog
from ml.families.base import ModelFamily
from ml.families.sales_forecast import evaluate, features, score, train
from ml.families.sales_forecast.config import NAME

FAMILY = ModelFamily(
    name=NAME, mart=catalog.PRODUCT_SALES_FORECAST, build_features=features.build_features, train=train.train,
    evaluate=evaluate.evaluate, score=score.score,
    description="Weekly product demand, 4 weeks ahead (LightGBM Poisson, direct multi-horizon)",
)

__all__ = ["FAMILY", "NAME"]
