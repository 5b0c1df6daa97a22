"""Your code, one module per step. Each file is generated from the reference solution; edit it."""
