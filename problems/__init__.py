"""The problem registry: one module per family; each registers its problems on import."""
