"""Step 07, the capstone: a view of runs whose status changes, built to the checklist."""
