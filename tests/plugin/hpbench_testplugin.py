"""A plugin package for the end-to-end tests, registered through the entry-point group
``hpbench.problems`` (the way another package adds entries to hpbench)."""

from __future__ import annotations

import os
import time

from hpbench import Float, Optimum, Problem, Space, register_problem


class SlowQuadratic(Problem):
    """sum((x - 0.3)^2) that takes a few milliseconds, so a run can be killed mid-way."""

    def __init__(self, seed=None, delay=None):
        space = Space(x0=Float(-1, 1), x1=Float(-1, 1))
        super().__init__(space, seed=seed, name="slow-quadratic",
                         optimum=Optimum(0.0, {"x0": 0.3, "x1": 0.3}, source="construction"))
        self.delay = float(os.environ.get("HPBENCH_TEST_DELAY", "0.004")) if delay is None \
            else delay

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        time.sleep(self.delay)
        return (config["x0"] - 0.3) ** 2 + (config["x1"] - 0.3) ** 2


def register() -> None:
    register_problem("slow-quadratic", SlowQuadratic, tags=("test",))
