"""Analysis: reads what the store writes; writes figures, tables and the report."""
