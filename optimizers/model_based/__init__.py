"""Model-based optimization: Gaussian-process BO, TPE, random-forest SMBO."""
