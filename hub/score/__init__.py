"""The learned deal score: point-in-time features, a calibrated model with reasons, the
scores written after dbt, the backtest against baselines, and the push guard
(docs/metrics.md "deal_scores", docs/reverse-sync.md)."""
