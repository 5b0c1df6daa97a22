"""What a learner or a facilitator calls: the kata's commands as functions (``kata``), the
``cqrs-kata`` command line (``cli``), the notebook helpers that ``from cqrs_kata import check``
gives (``notebook``), the hint panel (``hints``) and the install check (``doctor``).
"""
