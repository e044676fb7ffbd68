"""Pure computations of monitoring: drift statistics, data quality, performance,
latency percentiles, alert rules. numpy/scipy/pandas only; no ORM, no Django.

The drift statistics reproduce Evidently 0.7's definitions (one module per
statistic, like ``evidently.legacy.calculations.stattests``) so the verdicts
agree with Evidently's report, without its per-column overhead.
"""
