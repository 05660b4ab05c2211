"""COCO's five groups of the 24 noiseless BBOB functions, and the tags they give problems.

COCO aggregates its results per group (cocopp's "separable", "moderate", "ill-conditioned",
"multi-modal" and "weakly structured" function groups); the analysis aggregates by
``GROUPS[function]`` the same way.
"""

from __future__ import annotations

#: group name -> the BBOB functions in it (Hansen et al., "Real-parameter black-box
#: optimization benchmarking 2009: noiseless functions definitions", section 0.2)
GROUP_FUNCTIONS: dict[str, range] = {
    "bbob-separable": range(1, 6),
    "bbob-low-conditioning": range(6, 10),
    "bbob-high-conditioning": range(10, 15),
    "bbob-multimodal-adequate": range(15, 20),
    "bbob-multimodal-weak": range(20, 25),
}

#: BBOB function (1..24) -> its group name
GROUPS: dict[int, str] = {f: group for group, fs in GROUP_FUNCTIONS.items() for f in fs}

#: the base BBOB function of each noisy function 101..130 (COCO's bbob-noisy suite builds
#: each from the noiseless function with these random seeds; see ``noisy.NOISY``)
NOISY_BASE: dict[int, int] = {
    **dict.fromkeys((101, 102, 103, 107, 108, 109), 1),   # sphere
    **dict.fromkeys((104, 105, 106, 110, 111, 112), 8),   # Rosenbrock
    **dict.fromkeys((113, 114, 115), 7),                  # step ellipsoid
    **dict.fromkeys((116, 117, 118), 10),                 # ellipsoid (condition 1e4)
    **dict.fromkeys((119, 120, 121), 14),                 # different powers
    **dict.fromkeys((122, 123, 124), 17),                 # Schaffer F7 (condition 10)
    **dict.fromkeys((125, 126, 127), 19),                 # Griewank-Rosenbrock
    **dict.fromkeys((128, 129, 130), 21),                 # Gallagher, 101 peaks
}


def group_of(function: int) -> str:
    """The COCO group of a BBOB function (1..24)."""
    try:
        return GROUPS[function]
    except KeyError:
        raise ValueError(f"BBOB functions are 1..24, got {function!r}") from None


def tags_for(suite: str, function: int, dimension: int) -> tuple[str, ...]:
    """The tags of one problem: "bbob", its suite (unless plain bbob), its COCO group,
    "separable" on f1-f5 (and the noisy sphere), "synthetic", its kind, its dimension."""
    base = function if suite != "bbob-noisy" else NOISY_BASE[function]
    group = group_of(base)
    suite_tags = () if suite == "bbob" else (suite,)
    separable = ("separable",) if group == "bbob-separable" else ()
    # a mixed-integer problem is not "continuous" (what `--tag continuous` selects)
    kind = {"bbob-mixint": ("mixed", "integer"), "bbob-noisy": ("continuous", "noisy")
            }.get(suite, ("continuous",))
    return ("bbob", *suite_tags, group, *separable, "synthetic", *kind, f"{dimension}d")
