"""Reference solutions, one module per step; the exercises are generated from these."""
