"""Defaults of the sales forecast; every field can be overridden per run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class SalesConfig:
    horizon: int = 4  # weeks forecast after the origin
    n_origins: int = 3  # rolling backtest origins, each HORIZON weeks apart (disjoint test windows)
    active_weeks: int = 13  # a product is active when it sold in the last N weeks
    min_history_weeks: int = 8  # younger products get the category / overall rate fallback
    max_train_weeks: int = 104  # oldest training origin, in weeks before the test origin
    ma_window: int = 4  # moving-average floor window
    interval_level: float = 0.8
    objective: str = "poisson"  # or "tweedie"
    lgbm_params: dict = field(
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
    seed: int = 42

    def as_params(self) -> dict:
        """Flat dict for MLflow params."""
        flat = {k: v for k, v in asdict(self).items() if k != "lgbm_params"}
        flat.update({f"lgbm_{k}": v for k, v in self.lgbm_params.items()})
        return flat
