"""Gradient-based hyperparameter optimization with hypergradients."""
