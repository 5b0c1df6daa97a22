"""Step 02, split truth from views: the checks of the in-memory write store, read model and
service (``checks``). The fold they compare the view with is ``cqrs_kata.steps.oracle``'s.
"""
