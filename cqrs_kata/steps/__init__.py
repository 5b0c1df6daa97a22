"""One module per step of the course: its tasks, hints and checks (see ``cqrs_kata.course``)."""
