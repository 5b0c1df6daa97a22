"""Step 01, one model first: the checks of ``record``, ``summary`` and ``add_index`` on one
SQLite table, and ``read_latency``, which notebook 01 measures and plots reads with.
"""
