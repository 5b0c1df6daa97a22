"""Step 04, replays and idempotency: the checks of the view and projector, and the fault
``harness`` (with Hypothesis) that delivers duplicates, replays and crashes to them.
"""
