"""Every setting of the sales forecast in one frozen dataclass; config/families/sales_forecast.yaml overrides."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.families.config import load_config

NAME = "sales_forecast"


@dataclass(frozen=True)
class SalesForecastConfig:
    horizon: int = 4  # weeks forecast after the origin
    n_origins: int = 3  # rolling backtest origins, each `horizon` weeks apart (disjoint test windows); fewer
    # where the history is short: the newest is the holdout, the older ones choose the method per class
    min_origin_weeks: int = 4  # weeks of history an origin needs (what the 4-week mean reads)
    active_weeks: int = 13  # a product is active when it sold in the last N weeks
    min_history_weeks: int = 8  # younger products get the category / overall rate fallback
    max_train_weeks: int = 104  # oldest training origin, in weeks before the test origin
    ma_window: int = 4  # moving-average floor window (one of lags.ROLL_WINDOWS)
    interval_level: float = 0.8  # central coverage of the prediction intervals
    lgbm_params: dict = field(  # passed to lightgbm.LGBMRegressor as they are
        default_factory=lambda: {
            "n_estimators": 150,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 20,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
        }
    )
    seed: int = 42  # LightGBM's random_state
    score_chunk_products: int = 5000  # products forecast per chunk when scoring, so memory stays flat

    def as_params(self) -> dict:
        """Flat dict for MLflow params: the model's settings (the scoring chunk size shapes no model)."""
        flat = {k: v for k, v in asdict(self).items() if k not in ("lgbm_params", "score_chunk_products")}
        flat.update({f"lgbm_{k}": v for k, v in self.lgbm_params.items()})
        return flat


def load(path: Path | None = None) -> SalesForecastConfig:
    return load_config(NAME, SalesForecastConfig, path)
