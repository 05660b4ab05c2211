"""Local search: coordinate descent and simulated annealing."""
