import pandas as pd

from hpbench.analysis import stats, tables
from hpbench.analysis.curves import cube
from hpbench.analysis.load import load
from tests.analysis.build import ranked


def _table(tmp_path):
    r = load(ranked(tmp_path, n_problems=2))
    vb = stats.versus_best(cube(r, [1.0]), 0)
    return r, vb, r.problems["ref_kind"]


def test_markdown_bolds_the_best_and_underlines_the_statistical_ties(tmp_path):
    r, vb, refs = _table(tmp_path)
    md = tables.regret_markdown(vb, r.problem_names, ["good", "close", "bad"], refs,
                                "2 evaluations")
    lines = md.splitlines()
    assert lines[0] == "| problem | reference | good | close | bad |"
    # good: median 0.3 [0.2, 0.4]; close: 0.4 [0.3, 0.5] (not worse); bad: 12 [11, 13]
    assert lines[2] == ("| q0 | optimum | **0.3 [0.2, 0.4]** | <u>0.4 [0.3, 0.5]</u> | "
                        "12 [11, 13] |")
    assert "Bold: lowest median" in md and "Holm" in md


def test_latex_is_booktabs_with_the_same_marks(tmp_path):
    r, vb, refs = _table(tmp_path)
    tex = tables.regret_latex(vb, r.problem_names, ["good", "close", "bad"], refs,
                              "2 evaluations")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert (r"q0 & optimum & \textbf{0.3 [0.2, 0.4]} & \underline{0.4 [0.3, 0.5]} & "
            r"12 [11, 13] \\") in tex
    assert "α" not in tex and r"$\alpha$" in tex  # pdflatex-safe


def test_latex_splits_wide_tables_and_escapes_names():
    vb = pd.DataFrame([{"problem": "p_1", "optimizer": f"o{i}", "median": 1.0, "q25": 1.0,
                        "q75": 1.0, "best": i == 0, "not_worse": i == 0} for i in range(7)])
    tex = tables.regret_latex(vb, ["p_1"], [f"o{i}" for i in range(7)],
                              pd.Series({"p_1": "best seen"}), "x", max_cols=5)
    assert tex.count(r"\begin{tabular}") == 2 and "(part 2 of 2)" in tex
    assert r"p\_1" in tex


def test_formatting_of_special_values():
    assert [tables.fmt(v) for v in (0.0, float("inf"), float("nan"), 1234567.0, 0.000123)] \
        == ["0", "∞", "n/a", "1.23e+06", "0.000123"]


def test_summary_table_bolds_the_lowest_entry_per_column():
    frame = pd.DataFrame({"mean rank @ b": [1.5, 2.5], "norm @ b": [0.3, float("nan")]},
                         index=pd.Index(["a", "b"], name="optimizer"))
    md = tables.summary_markdown(frame, {"b": "Friedman p = 0.01"})
    assert "| a | **1.5** | **0.3** |" in md and "| b | 2.5 | n/a |" in md
    tex = tables.summary_latex(frame, {"b": "Friedman p = 0.01"})
    assert r"a & \textbf{1.5} & \textbf{0.3} \\" in tex
