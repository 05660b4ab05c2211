"""DEHB (Awad, Mallik & Hutter 2021, "DEHB: Evolutionary Hyperband for Scalable, Robust and
Efficient Hyperparameter Optimization", IJCAI) as an external optimizer.

Runs in ``.peers/dehb/`` (DEHB pins numpy<2, which hpbench's environment cannot share) and
speaks the protocol through ``_peer.serve``. DEHB works in the unit cube itself
(``configspace=False``): its vectors map to configs with hpbench's conventions. Its
fidelities are Hyperband's (max_fidelity * eta^-k), rounded for an integer fidelity; a
failed trial is told as fitness +inf. Seeded: DEHB draws from one numpy Generator made from
the hello's seed, so the same seed gives the same trajectory.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _peer, beside this file

from _peer import UnitSpace, serve, version


class DehbWorker:
    def __init__(self, hello):
        from dehb import DEHB

        fidelity = hello["fidelity"]
        if fidelity is None:
            raise ValueError("dehb needs a problem with a fidelity")
        settings = hello["settings"]
        self.space = UnitSpace(hello["space"])
        self.fidelity = fidelity
        seed = hello["seed"]
        self.dehb = DEHB(f=None, cs=None, configspace=False, dimensions=len(self.space),
                         min_fidelity=fidelity["low"], max_fidelity=fidelity["high"],
                         eta=settings["eta"], mutation_factor=settings["mutation_factor"],
                         crossover_prob=settings["crossover_prob"],
                         seed=None if seed is None else int(seed), n_workers=1,
                         output_path=".", save_freq="end", log_level="WARNING")
        self.jobs = {}
        self.next_tag = 0

    def _fidelity(self, f):
        low, high = self.fidelity["low"], self.fidelity["high"]
        f = min(high, max(low, float(f)))
        return float(round(f)) if self.fidelity["integer"] else f

    def ask(self, n):
        jobs = self.dehb.ask(n)
        out = []
        for job in [jobs] if isinstance(jobs, dict) else jobs:
            tag, self.next_tag = self.next_tag, self.next_tag + 1
            self.jobs[tag] = job
            out.append({"config": self.space.from_unit(job["config"]),
                        "fidelity": self._fidelity(job["fidelity"]), "tag": tag})
        return out

    def tell(self, observations):
        for obs in observations:
            job = self.jobs.pop(obs["tag"])
            value = obs["value"]
            fitness = value if obs["ok"] and value is not None and math.isfinite(value) \
                else math.inf
            self.dehb.tell(job, {"fitness": fitness, "cost": obs["cost"]})


def make(hello):
    return DehbWorker(hello), {"name": "dehb", "version": version("DEHB"),
                               "uses": ["fidelity"]}


if __name__ == "__main__":
    serve(make)
