"""The optimizer registry: one module per optimizer or adapted library."""
