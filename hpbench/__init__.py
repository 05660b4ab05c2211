"""hpbench: a benchmarking and research harness for hyperparameter optimizers."""

# first, before numpy is imported: the same floats on every machine (see _numerics)
from hpbench import _numerics  # noqa: F401
from hpbench.budget import Budget
from hpbench.optimizer import Observation, Optimizer, Suggestion
from hpbench.problem import EvalContext, Evaluation, Fidelity, Optimum, Problem
from hpbench.registry import (
    list_optimizers,
    list_problems,
    make_optimizer,
    make_problem,
    register_optimizer,
    register_problem,
)
from hpbench.space import Categorical, Condition, Float, Int, InvalidConfig, Space

__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Categorical",
    "Cell",
    "Condition",
    "EvalContext",
    "Evaluation",
    "Fidelity",
    "Float",
    "Int",
    "InvalidConfig",
    "Observation",
    "Optimizer",
    "Optimum",
    "Problem",
    "ResultsDir",
    "Space",
    "Suggestion",
    "list_optimizers",
    "list_problems",
    "load_results",
    "make_optimizer",
    "make_problem",
    "register_optimizer",
    "register_problem",
    "run",
]


#: names loaded on first use: evaluation child processes need none of them
_LAZY = {"load_results": "hpbench.store", "ResultsDir": "hpbench.store", "Cell": "hpbench.cell",
         "run": "hpbench.api"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")

