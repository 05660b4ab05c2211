"""Adapters to the libraries people already use: Optuna, Hyperopt, scikit-optimize,
bayes_opt, Nevergrad, scikit-learn."""
