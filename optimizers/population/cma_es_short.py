"""``cma-es-short``: the short-budget CMA-ES variant that Nevergrad's ``CMA`` runs on a box.

Nevergrad's ``CMA`` (``MetaCMA`` in ``nevergrad/optimization/optimizerlib.py``, 1.0.12) is a
competence map (Meunier et al. 2021, "Black-box optimization revisited: improving algorithm
selection wizards through massive benchmarking", IEEE TEVC 26(3)): on a fully bounded,
continuous, noise-free space with a budget it picks ``CMAbounded``, that is
``ParametrizedCMA(scale=1.5884, popsize_factor=1, elitist=True, diagonal=True)`` run through
pycma. In our unit cube that is:

* population ``4 + floor(ln d)`` instead of Hansen's ``4 + floor(3 ln d)`` (4 in 2-D, 5 in
  5-D or 6-D): more generations from the same budget;
* ``CMA_elitist``: the best solution found so far is put back into every generation when it
  beats the generation's best (pycma's elitism), so the mean cannot drift away from it;
* ``CMA_diagonal``: a diagonal covariance (sep-CMA-ES, Ros & Hansen 2008, "A simple
  modification in CMA-ES achieving linear time and space complexity", PPSN X), learnt with
  the larger learning rates a diagonal allows;
* ``sigma0 = 0.0794`` of every range: Nevergrad's standardized coordinates span a bounded
  ``Scalar`` as ``+-3`` (its sigma is a sixth of the range) and a fully bounded problem gets
  ``0.3 * scale = 0.4765`` there, i.e. ``0.4765 / 6`` of the range;
* a stopped run restarts with the same population (Nevergrad builds a fresh ``CMAbounded``),
  here at a uniform random point (Nevergrad restarts at the centre).

Two details differ from Nevergrad: bounds are handled by pycma's ``BoundTransform`` (as in
``cma-es``), where Nevergrad samples unboundedly and bounces points back into the box, and the
random stream is this optimizer's own. Everything else (integers and categories as levels,
failed evaluations, the private numpy state) is ``cma-es``'s (optimizers/population/cma_es.py).

Why a separate entry: the textbook CMA-ES (``cma-es``) is non-elitist with a larger population
and step, which is what makes it a robust global method over a long budget (Hansen 2016, "The
CMA evolution strategy: a tutorial", arXiv:1604.00772, whose defaults it keeps); at 100
evaluations in 2-6 dimensions it has run only 10-16 generations and is still converging,
while this variant has converged to a local optimum (benchmarks/test_population.py has both
next to ``ng-cma``).
"""

from __future__ import annotations

from typing import Any

from hpbench import register_optimizer
from hpbench.optimizers.population.cma_es import CMAES

#: Nevergrad's step for a fully bounded space: ``0.3 * 1.5884`` standardized units, a sixth of
#: the range each
NEVERGRAD_BOUNDED_SIGMA0 = 0.3 * 1.5884 / 6


@register_optimizer("cma-es-short", tags=("population", "evolution-strategy"),
                    packages=("cma",), extra="cma",
                    description="CMA-ES for short budgets: elitist, diagonal, population "
                                "4 + ln d, Nevergrad's CMAbounded set-up (Meunier et al. 2021)")
class CMAESShort(CMAES):
    """Elitist, diagonal CMA-ES with a small population and step (see the module docstring).

    Settings as ``cma-es``'s, with these defaults: ``sigma0`` 0.0794, ``popsize`` None (``4 +
    floor(ln d)``), ``restarts`` "none"; ``options`` go over ``{"CMA_elitist": True,
    "CMA_diagonal": True}``.
    """

    label = "cma-es-short"
    popsize_factor = 1
    base_options: dict[str, Any] = {"CMA_elitist": True, "CMA_diagonal": True}
    settings = {**CMAES.settings, "sigma0": round(NEVERGRAD_BOUNDED_SIGMA0, 4),
                "restarts": "none"}
