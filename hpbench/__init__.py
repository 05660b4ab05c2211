"""hpbench: a benchmarking and research harness for hyperparameter optimizers."""

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


def __getattr__(name: str):
    # pandas and pyarrow load on first use: evaluation child processes never need them
    if name == "load_results":
        from hpbench.store import load_results

        return load_results
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")


def run(*args, **kwargs):
    """Run a suite; see ``hpbench.api.run``."""
    from hpbench.api import run as _run

    return _run(*args, **kwargs)
