"""Step 00, how the kata works: the ``tally`` warm-up's checks.
"""
