"""Step 05, durable and cross-process: the checks of the outbox and the durable projector
(``checks``), the ``lab`` those checks share with the harness and with step 06 (scratch
databases, a clock, statement taps that record or crash), the ``harness`` that plays generated
histories with crashes, the projector run as its own process (``projector_process``, what
``cqrs-kata project`` runs), and notebook 05's ``demo`` and ``pitfalls``.
"""
