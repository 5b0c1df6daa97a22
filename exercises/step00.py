# Step 00 exercise: replace each `raise NotImplementedError` with your code,
# then run `cqrs-kata check 00`.
# Generated from solutions/step00.py by `make stubs`; this copy is yours to edit.
"""Step 00 — warm-up: count statuses.

Every view in this kata is a counter, so the warm-up is the smallest counter there is. It exists
to practise the loop you will use all course long: edit, check, read the message, fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def tally(statuses: Iterable[str]) -> dict[str, int]:
    """Count how often each status occurs.

    ``tally(["ok", "ok", "fail"])`` returns ``{"ok": 2, "fail": 1}`` and ``tally([])`` returns
    ``{}``. A status that never occurs is not in the result. ``statuses`` may be any iterable
    (a list, a tuple, a generator); read it once and do not change it.
    """
    raise NotImplementedError(
        "tally is not written yet: step 00, task 1 "
        "(`cqrs-kata hint 00 1` gives a hint)"
    )
