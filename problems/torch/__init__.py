"""PyTorch nets on the bundled digits and generated data: epochs as fidelity, checkpoints,
hypergradients."""
