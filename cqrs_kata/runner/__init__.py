"""Running a step's checks against the learner's code (or the reference) and reporting them.

``run`` picks the file and runs the step's checks task by task; ``isolation`` is the parent
side, which starts the checks in a child process and kills it at its deadline; ``sandbox`` is
the child side, which imports the learner's code, runs each check and reports its outcome (in a
browser kernel it runs in the caller's process instead); ``report`` turns the results into the
text and HTML the terminal and the notebook show.
"""
