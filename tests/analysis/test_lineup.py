"""Families, panels and emphasis of figures with many optimizers, without drawing."""

from __future__ import annotations

import pytest

from hpbench.analysis import families, lineup, style


def test_the_family_is_the_folder_of_the_registered_class():
    assert families.family_of("gp-bo") == "model_based"
    assert families.family_of("asha") == "multifidelity"
    assert families.family_of("optuna-tpe") == "adapters"
    assert families.family_of("random") == "baselines"
    assert families.family_of("not-registered-here") == families.OTHER
    # a plugin's optimizer belongs to its package; an origin without a module to "other"
    assert families.family_of_origin("hpbench_testplugin.FaultyOptimizer") == \
        "hpbench_testplugin"
    assert families.family_of_origin("hpbench.optimizers.local.annealing.SA") == "local"
    assert families.family_of_origin("?.thing") == families.OTHER


def test_small_families_share_a_panel_and_a_large_one_is_split_evenly():
    fams = {"random": "baselines", "grid": "baselines", "tpe": "model_based",
            **{f"x{i}": "adapters" for i in range(23)}, "solo": "rl"}
    lu = lineup.lineup(list(fams), fams, fams=fams, facet_above=10)
    assert [p.title for p in lu.panels] == ["baselines · model-based · reinforcement learning",
                                             "adapters (1/3)", "adapters (2/3)",
                                             "adapters (3/3)"]
    assert [len(p.names) for p in lu.panels] == [4, 9, 9, 8]  # random search in each
    assert all(p.names[0] == "random" for p in lu.panels)
    one = lineup.lineup(list(fams)[:5], list(fams)[:5], fams=fams)
    assert not one.faceted and one.panels[0].title == ""


def test_bands_for_the_top_k_by_score_or_the_highlighted():
    names = [f"o{i}" for i in range(8)]
    fams = dict.fromkeys(names, "other")
    scores = {n: float(i) for i, n in enumerate(reversed(names))}  # o7 best
    lu = lineup.lineup(names, names, scores=scores, score="final median", fams=fams, top_k=3)
    assert lu.banded == {"o7", "o6", "o5"}
    assert lu.band_note() == "bands for the 3 best by final median"
    assert lu.line_kw("o7")["linewidth"] > lu.line_kw("o0")["linewidth"]
    hl = lineup.lineup(names, names, scores=scores, highlight=["o0"], fams=fams)
    assert hl.banded == {"o0"} and len(hl.panels) == 1
    assert hl.line_kw("o1")["color"] == style.faded(hl.styles["o1"].color)


@pytest.mark.parametrize(("values", "floor"), [
    ([0.0, 0.2, 3.0], 0.01),      # a decade below 0.2, rounded down to a power of ten
    ([0.0, 4e-7, 1.0], 1e-8),
    ([0.5, 2.0], None),           # no zero: nothing to place
    ([0.0, float("inf")], 0.1),   # only zeros shown
])
def test_zero_is_drawn_a_decade_below_the_smallest_positive_value(values, floor):
    assert style.zero_floor(values) == (pytest.approx(floor) if floor else None)
    drawn = style.on_log_axis(values, style.zero_floor(values))
    assert (drawn[[v == 0 for v in values]] == (floor or 0)).all()
