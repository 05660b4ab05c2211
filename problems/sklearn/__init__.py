"""scikit-learn model tuning tasks on the bundled datasets, with the shipped best-known table."""
