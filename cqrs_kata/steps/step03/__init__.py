"""Step 03, eventual projection: the checks of the queued service, the model-based ``harness``
that plays generated sequences against it, and notebook 03's live ``dashboard``.
"""
