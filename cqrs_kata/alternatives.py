"""The names step 06's exercise imports: ``OPTIONS`` (what ``choose`` answers) and ``Figures``
(what it decides from). They are defined in ``cqrs_kata/steps/step06/figures.py``,
beside the measurements; this name stays so that an exercise written against
it keeps importing.
"""

from cqrs_kata.steps.step06.figures import OPTIONS, Figures

__all__ = ["OPTIONS", "Figures"]
