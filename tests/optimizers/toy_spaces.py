"""The toy spaces of the adapter tests (SMAC, scikit-learn's halving, the fidelity bridge):
a log-scaled float, an integer and a categorical, and a float active only under one choice
of the categorical, so that every mapping of a library's space meets each kind."""

from __future__ import annotations

from hpbench import Categorical, Float, Int, Space

#: the three kinds of parameter, no condition
PLAIN = Space(lr=Float(1e-3, 1.0, log=True), n=Int(1, 8), kind=Categorical(["a", "b"]))
#: ``PLAIN`` and ``extra``, active only when ``kind`` is ``b``
CONDITIONAL = Space(lr=Float(1e-3, 1.0, log=True), n=Int(1, 8), kind=Categorical(["a", "b"]),
                    extra=Float(0.0, 1.0, condition=("kind", ["b"])))
