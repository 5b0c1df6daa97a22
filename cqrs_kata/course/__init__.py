"""What the course is: its steps, tasks and checks (``structure``), the
vocabulary checks are written in (``expect``), each exercise's contract read from its docstrings
(``contract``), the stubs made from the reference solutions (``stubs``), where the course and the
learner's state live (``paths``), the learner's files and the copies saved before replacing them
(``files``), importing the learner's file and saying what its import raised (``loading``), and
which files git tracks as the course's (``tracked``).

It imports nothing above it: the steps, the runner and the learner's commands all build on it.
"""
