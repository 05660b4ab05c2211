"""HEBO (Cowen-Rivers et al. 2022, "HEBO: Pushing the Limits of Sample-Efficient
Hyper-parameter Optimisation", JAIR 74; winner of the NeurIPS 2020 black-box optimisation
challenge) as an external optimizer.

Runs in ``.peers/hebo/`` (HEBO 0.3.6 pins numpy<1.25 and pymoo==0.6.0, which hpbench's
environment cannot share) and speaks the protocol through ``_peer.serve``. hpbench's space
maps to HEBO's design space parameter by parameter (log floats to ``pow``, log integers to
``pow_int``, categories by index). HEBO has no conditional spaces: it proposes every
parameter and the inactive ones are left out of the config. Failed trials are not shown to
HEBO (its GP cannot take NaN). Seeding: HEBO draws from numpy's and torch's global
generators (and pymoo's NSGA-II from numpy's), which in this process belong to it alone: the
hello's seed seeds them, torch runs on one thread, and the same seed gives the same
trajectory.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _peer, beside this file

from _peer import UnitSpace, serve, version


def design(params):
    """HEBO's design-space description of hpbench's parameters."""
    out = []
    for p in params:
        name = p["name"]
        if p["type"] == "categorical":
            out.append({"name": name, "type": "cat",
                        "categories": [str(i) for i in range(len(p["choices"]))]})
        elif p["type"] == "float":
            kind = "pow" if p["log"] else "num"
            out.append({"name": name, "type": kind, "lb": p["low"], "ub": p["high"]})
        else:
            kind = "pow_int" if p["log"] else "int"
            out.append({"name": name, "type": kind, "lb": p["low"], "ub": p["high"]})
    return out


class HeboWorker:
    def __init__(self, hello):
        import numpy as np
        import torch
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO

        seed = hello["seed"]
        if seed is not None:
            seed = int(seed) % 2**32
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
        torch.set_num_threads(1)  # one core, and no thread-order effects on the sums
        settings = hello["settings"]
        self.space = UnitSpace(hello["space"])
        rand_sample = settings["rand_sample"] or None  # 0: HEBO's default, 1 + dimensions
        self.hebo = HEBO(DesignSpace().parse(design(self.space.params)),
                         model_name=settings["model"], rand_sample=rand_sample,
                         scramble_seed=seed)
        self.np = np
        self.asked = {}
        self.next_tag = 0

    def _config(self, row):
        values = []
        for p in self.space.params:
            v = row[p["name"]]
            if p["type"] == "categorical":
                values.append(p["choices"][int(v)])
            elif p["type"] == "float":
                values.append(min(p["high"], max(p["low"], float(v))))
            else:
                values.append(min(p["high"], max(p["low"], round(float(v)))))
        return self.space.config(values)

    def ask(self, n):
        rec = self.hebo.suggest(n_suggestions=n)
        out = []
        for i in range(len(rec)):
            row = rec.iloc[[i]]
            tag, self.next_tag = self.next_tag, self.next_tag + 1
            self.asked[tag] = row
            out.append({"config": self._config(row.iloc[0]), "tag": tag})
        return out

    def tell(self, observations):
        import pandas as pd

        rows, ys = [], []
        for obs in observations:
            row = self.asked.pop(obs["tag"])
            if obs["ok"] and obs["value"] is not None:
                rows.append(row)
                ys.append(obs["value"])
        if rows:
            self.hebo.observe(pd.concat(rows), self.np.asarray(ys, dtype=float).reshape(-1, 1))


def make(hello):
    return HeboWorker(hello), {"name": "hebo", "version": version("HEBO"), "uses": []}


if __name__ == "__main__":
    serve(make)
