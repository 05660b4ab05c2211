"""Analysis: reads what the store writes; writes figures, tables and the report.

Entry point: ``hpbench.analysis.report.make_figures(results_dir)`` (``hpbench figures DIR``). One
module per kind of output — ``load`` (the tidy trial table and its best-so-far / regret
columns), ``curves`` (sampling on budget grids, bands), ``regret`` (regret curves and
normalized regret), ``ranks``, ``stats`` (Friedman, critical differences, Mann-Whitney against
the best), ``profiles`` (COCO ECDF, Dolan-Moré), ``overfit`` (validation versus test),
``overhead``, ``tables`` and ``style`` (colours, markers, fingerprint footer, saving).
Each figure is one function registered with ``@registry.figure(...)`` in the module that
computes it; ``report`` draws every registered figure and lays out the report from them.
"""
