"""``report.html`` as a reviewer gets it: one self-contained file, tables that scroll, budgets
that keep their percent sign, and a guide to reading it. Every test reads the real file
``make_figures`` writes."""

from __future__ import annotations

import argparse
import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from hpbench.analysis.cli import add_figures
from hpbench.analysis.curves import BANDS
from hpbench.analysis.load import load
from hpbench.analysis.report import make_figures
from hpbench.analysis.tables import budget_slug, regret_html, share_label
from tests.analysis.build import cell_columns, two_optimizers, write

VOID = {"img", "meta", "br", "hr", "link", "input", "source", "col", "wbr"}


class Page(HTMLParser):
    """The parts of a page the tests look at: images, every reference to another
    resource, each table's parent element, and the text under each heading."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.images: list[dict] = []
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.table_parents: list[tuple[str, dict] | None] = []
        self.sections: list[tuple[str, str]] = []  # (h2 text, html after it)
        self.feed(text)
        self.close()
        parts = re.split(r"<h2>(.*?)</h2>", text)
        self.sections = list(zip(parts[1::2], parts[2::2]))

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        for key in ("src", "href", "srcset", "data", "poster", "action", "background"):
            if key in a:
                self.refs.append((tag, key, a[key]))
        if tag == "table":
            self.table_parents.append(self.stack[-1] if self.stack else None)
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    """The figures folder of ``two_optimizers`` (default options) and its report."""
    out = make_figures(two_optimizers(tmp_path_factory.mktemp("report") / "res"))
    return out, (out / "report.html").read_text(encoding="utf-8")


def test_the_report_is_one_file_with_every_image_embedded(report):
    out, text = report
    page = Page(text)
    on_disk = sorted(out.rglob("*.png"))
    assert len(on_disk) >= 8 and all(p.with_suffix(".pdf").is_file() for p in on_disk)
    prefix = "data:image/png;base64,"
    assert page.images and all(img["src"].startswith(prefix) for img in page.images)
    # each PNG on disk is embedded once, byte for byte
    embedded = sorted(base64.b64decode(img["src"][len(prefix):], validate=True)
                      for img in page.images)
    assert embedded == sorted(p.read_bytes() for p in on_disk)
    # nothing refers to another file: no links, no stylesheets, no scripts, no CSS urls
    assert all(value.startswith("data:") for _, _, value in page.refs), \
        [r for r in page.refs if not r[2].startswith("data:")]
    assert "url(" not in text and "@import" not in text and "<link" not in text
    # the PDFs papers use are named next to each figure
    assert "<code>ecdf.pdf</code>" in text and "<code>regret/p1.pdf</code>" in text


def test_every_table_sits_in_a_horizontal_scroll_box(report):
    _, text = report
    page = Page(text)
    assert len(page.table_parents) >= 5  # three regret tables, the summary, the versions
    for parent in page.table_parents:
        assert parent is not None and parent[0] == "div", parent
        attrs = parent[1]
        assert "table-wrap" in attrs.get("class", "").split()
        assert re.search(r"overflow-x\s*:\s*auto", attrs.get("style", "")), attrs


def test_how_to_read_the_report_comes_first_and_says_what_the_figures_use(report):
    out, text = report
    page = Page(text)
    titles = [t for t, _ in page.sections]
    assert titles[0] == "How to read this report"
    guide = page.sections[0][1]
    assert guide.count("<li>") <= 15
    r = load(out.parent)
    words = re.sub(r"<.*?>", "", guide)
    for needle in ("cell", "repeat", "Regret", "full fidelity", BANDS["iqr"],
                   "exact optimum",  # p1's reference
                   "best value any optimizer reached",  # p2's
                   "Normalized regret", "Rank plot", "[0, 1]", "ECDF", "Performance profile",
                   "0.001·r0", "Critical-difference diagram", "α = 0.05",
                   "Fingerprint", r.fingerprint, "top-right corner"):
        assert needle in words, needle
    assert "best-known value" not in words  # no problem here uses a shipped table


def _different_budgets(out: Path) -> Path:
    """Three optimizers on three problems, q0 under a budget of 2 evaluations and q1, q2
    under 4 (so budget points are shares, not amounts); per repeat, ``good`` ends lowest,
    then ``close``, then ``bad``."""
    finals = {"bad": [10, 11, 12], "close": [0.2, 0.3, 0.4], "good": [0.1, 0.15, 0.2]}
    for p, budget in (("q0", 2), ("q1", 4), ("q2", 4)):
        for opt, vals in finals.items():
            for r in range(3):
                values = [20.0] * (budget - 1) + [vals[r]]
                write(out, p, opt, r, cell_columns(values), optimum=0.0, budget=budget)
    return out


def test_budget_shares_keep_their_percent_sign_in_file_names_and_headings(tmp_path):
    assert share_label(0.25) == "25 % of the budget"
    assert budget_slug("25 % of the budget") == "25pct_of_the_budget"
    assert budget_slug("12.5 % of the budget") == "12_5pct_of_the_budget"
    assert budget_slug("2.5 evaluations") == "2_5_evaluations"

    out = make_figures(_different_budgets(tmp_path / "res"), highlight=["close"])
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for share in ("25", "50", "100"):
        stem = f"{share}pct_of_the_budget"
        assert {f"cd_{stem}.pdf", f"cd_{stem}.png"} <= names, sorted(names)
        assert {f"tables/regret_{stem}.{x}" for x in ("md", "tex", "csv")} <= names
    assert not [n for n in names if "__" in n]
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "<h3>Regret at 100 % of the budget</h3>" in text
    assert "critical-difference diagram at 100 % of the budget · " in text
    assert re.search(r"<th colspan='\d+' class='group'>100 % of the budget</th>", text)
    assert "tab:regret-100pct_of_the_budget" in (out / "tables" /
                                                 "regret_100pct_of_the_budget.tex").read_text()
    # the summary is ranked: the best optimizer first, whatever the optimizers' order;
    # the highlighted one is marked there and named at the top
    summary = text[text.index("<h3>Summary per optimizer</h3>"):]
    rows = re.findall(r"<tr(?: class='hl')?><td>([a-z]+)</td>", summary)
    assert rows[:3] == ["good", "close", "bad"]
    assert "<tr class='hl'><td>close</td>" in summary and "highlighted: close." in text
    assert "Rows sorted by mean rank at 100 % of the budget." in summary


def test_linked_images_refer_to_the_files_and_their_pdfs(tmp_path):
    res = two_optimizers(tmp_path / "res")
    parser = argparse.ArgumentParser()
    handler = add_figures(parser.add_subparsers())
    args = parser.parse_args(["figures", str(res), "--out", str(tmp_path / "figs"),
                              "--band", "ci", "--linked-images"])
    assert handler(args) == 0
    out = tmp_path / "figs"
    text = (out / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    srcs = sorted(img["src"] for img in page.images)
    assert srcs == sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    hrefs = [v for tag, key, v in page.refs if key == "href"]
    assert sorted(hrefs) == sorted(s[:-4] + ".pdf" for s in srcs)
    assert all((out / h).is_file() for h in hrefs)
    assert BANDS["ci"] in re.sub(r"<.*?>", "", page.sections[0][1])
    assert len(text) < 100_000  # the images stay out of the file


def test_a_regret_table_of_many_optimizers_has_a_row_per_optimizer():
    problems, optimizers = ["p1", "p2"], [f"opt{i}" for i in range(40)]
    vb = pd.DataFrame([{"problem": p, "optimizer": o, "median": 1.0 + i, "q25": 0.5 + i,
                        "q75": 2.0 + i, "best": i == 0, "not_worse": i < 2}
                       for p in problems for i, o in enumerate(optimizers)])
    refs = pd.Series({"p1": "optimum", "p2": "best seen"})
    text = regret_html(vb, problems, optimizers, refs, "12 evaluations", highlight=["opt7"])
    header = re.search(r"<thead>(.*?)</thead>", text, re.S).group(1)
    assert header.count("<th>") == 1 + len(problems)  # optimizer, then one per problem
    assert "p2<br><span class='ref'>best seen</span>" in header
    rows = re.findall(r"<tr(?: class='hl')?><td>(opt\d+)</td>", text)
    assert rows == optimizers and "<tr class='hl'><td>opt7</td>" in text
    assert "<tr><td>opt0</td><td><b>1 [0.5, 2]</b></td>" in text
    assert "<tr><td>opt1</td><td><u>2 [1.5, 3]</u></td>" in text
    # as many problems as optimizers or more: one row per problem, as in the paper tables
    wide = regret_html(vb[vb["optimizer"].isin(optimizers[:2])], problems, optimizers[:2],
                       refs, "12 evaluations")
    assert re.findall(r"<tr><td>(p\d)</td><td>([a-z ]+)</td>", wide) == [
        ("p1", "optimum"), ("p2", "best seen")]
