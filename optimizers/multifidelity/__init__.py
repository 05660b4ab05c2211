"""Multi-fidelity methods and training schedules: successive halving, Hyperband, ASHA,
BOHB, population-based training."""
