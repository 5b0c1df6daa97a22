"""Step 06, the alternatives measured: the checks of ``refresh_summary``, ``staleness``,
``summary`` and ``choose``, the measurements behind them (``alternatives``) and ``cqrs-kata
bench`` (``bench``).
"""
