"""One package per step of the course, ``stepNN``: everything that step adds to the kata.

Each holds ``checks.py`` (the step's tasks, hints, contract and checks: ``STEP``, found by
``cqrs_kata.course.structure``) and, where the step has them, the harness its checks drive and
the helpers its notebook demonstrates with. Steps build on the course, the backends and each
other's harnesses, never on the runner or the learner's commands.
"""
