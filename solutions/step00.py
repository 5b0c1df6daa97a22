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
    # BEGIN SOLUTION
    return dict(Counter(statuses))
    # END SOLUTION
