"""Baselines: random, grid and quasi-random (Sobol, Latin hypercube) search."""
