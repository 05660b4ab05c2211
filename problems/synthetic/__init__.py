"""Synthetic surfaces with known optima: the classic test functions, their mixed-type and
multi-fidelity variants."""
