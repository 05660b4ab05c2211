"""``hpbench export coco|ioh``: a real run of BBOB problems replayed into COCO's and
IOHprofiler's formats, read back by ``cocopp`` (its ERT must equal hpbench's) and parsed
as IOHanalyzer reads it (its best-so-far must equal hpbench's)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpbench import api
from hpbench.analysis.ert import ert
from hpbench.analysis.load import load
from hpbench.cli import main
from hpbench.store import ResultsDir, read_cell

BBOB = ["bbob-f01-2d", "bbob-f03-2d"]
OTHER = ["bbob-mixint-f01-5d", "bbob-noisy-f101-2d", "branin"]
OPTIMIZERS = ["random", "de"]
REPEATS = 3
#: COCO's target precisions (cocopp's default grid, 10^(2 … -8) in steps of 10^0.2)
TARGETS = [10 ** (k / 5) for k in range(10, -41, -1)]

#: run in a child process: cocopp changes matplotlib's global settings on import, and its
#: import reaches for COCO's online data archives; the child has no network (urllib and
#: sockets refuse) and its own cache folder (XDG_CACHE_HOME), so nothing is fetched or
#: written outside the test's folder
COCOPP = r"""
import json, socket, sys, urllib.request, warnings

def offline(*args, **kwargs):
    raise OSError("no network in hpbench's tests")

urllib.request.urlretrieve = urllib.request.urlopen = offline
socket.socket.connect = offline
warnings.simplefilter("ignore")
import matplotlib
matplotlib.use("Agg")
import cocopp

out, targets, folders = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
rows = [{"algorithm": ds.algId, "function": int(ds.funcId), "dimension": int(ds.dim),
         "runs": int(ds.nbRuns()), "ert": [float(e) for e in ds.detERT(targets)]}
        for folder in folders for ds in cocopp.load(folder)]
with open(out + "/ert.json", "w") as fh:
    json.dump(rows, fh)
# the whole post-processing, cut to what a check needs: no svg, no per-function runlength
# figures, few bootstrap samples
cocopp.main(["-o", out + "/html", "--no-svg", "--no-rld-single-fcts", "--in-a-hurry", "1000",
             *folders])
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Random search and differential evolution on two noiseless BBOB functions (2-D), a
    mixed-integer one, a noisy one and branin (not BBOB): 3 repeats of 60 evaluations."""
    out = tmp_path_factory.mktemp("bbob") / "results"
    api.run("smoke", problems=BBOB + OTHER, optimizers=OPTIMIZERS, repeats=REPEATS,
            budget=60, out=out)
    return out


def export(fmt: str, results: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main(["export", fmt, str(results), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def coco(results, tmp_path_factory) -> Path:
    """``hpbench export coco`` of ``results``."""
    out = tmp_path_factory.mktemp("coco") / "export"
    assert main(["export", "coco", str(results), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cocopp_run(coco, tmp_path_factory) -> tuple[Path, list[dict]]:
    """cocopp on the exported bbob folders: its ERT table and its HTML pages."""
    out = tmp_path_factory.mktemp("cocopp")
    folders = [str(coco / "bbob" / o) for o in OPTIMIZERS]
    env = {**os.environ, "XDG_CACHE_HOME": str(out / "cache"), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", COCOPP, str(out), json.dumps(TARGETS),
                           *folders], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "ert.json").read_text())


def test_coco_export_writes_cocos_files_per_suite_and_optimizer(results, coco, capsys,
                                                                 tmp_path):
    out = coco
    for suite, fids in [("bbob", [1, 3]), ("bbob-mixint", [1]), ("bbob-noisy", [101])]:
        for opt in OPTIMIZERS:
            folder = out / suite / opt
            for f in fids:
                info = (folder / f"bbobexp_f{f}.info").read_text()
                assert f"algId = '{opt}'" in info and f"funcId = {f}," in info
                # one run per repeat, each of 60 evaluations: "instance:evaluations|…"
                runs = info.splitlines()[2].split(", ")[1:]
                assert len(runs) == REPEATS
                assert sorted(int(r.split(":")[0]) for r in runs) == [1, 2, 3]
                assert all(r.split(":")[1].startswith("60|") for r in runs)
                dim = 5 if suite == "bbob-mixint" else 2
                for ext in ("dat", "tdat"):
                    assert (folder / f"data_f{f}" / f"bbobexp_f{f}_DIM{dim}.{ext}").is_file()
    assert not (out / "branin").exists()
    # the summary says what was left out, and the command to post-process
    code, text, _ = export("coco", results, tmp_path / "again", capsys)
    assert code == 0
    assert "skipped 6 cells (6 not BBOB)" in text
    assert f"python -m cocopp {tmp_path / 'again' / 'bbob'}/*" in text


def test_cocopp_reports_the_ert_hpbench_computes(results, cocopp_run):
    ours_all = ert(load(results).trials, TARGETS)
    rows = cocopp_run[1]
    assert {(r["algorithm"], r["function"]) for r in rows} == {
        (o, f) for o in OPTIMIZERS for f in (1, 3)}
    partial = 0
    for row in rows:
        problem = BBOB[[1, 3].index(row["function"])]
        assert row["runs"] == REPEATS
        for target, theirs in zip(TARGETS, row["ert"]):
            ours = ours_all.loc[(problem, row["algorithm"], target)]
            if math.isinf(ours["ert"]):
                assert math.isinf(theirs), (problem, row["algorithm"], target)
            else:
                assert theirs == pytest.approx(ours["ert"], rel=1e-12), (
                    problem, row["algorithm"], target, ours.to_dict())
            partial += 0 < ours["successes"] < ours["runs"]
    # targets that some but not all runs reached: there ERT counts the failed runs' budget
    assert partial >= 3


def test_cocopp_writes_its_html_pages(cocopp_run):
    html = cocopp_run[0] / "html"
    index = html / "index.html"
    assert index.is_file()
    # it links the comparison of the two optimizers, whose pages hold the ECDFs of
    # runtimes (pprldmany) and the ERT tables (pptables), which name both
    (link,) = re.findall(r'href="([^"]+/index.html)"', index.read_text())
    comparison = (html / link).parent
    pages = {p.name for p in comparison.glob("*.html")}
    assert {"index.html", "pprldmany.html", "pptables.html"} <= pages, sorted(pages)
    tables = (comparison / "pptables.html").read_text()
    assert all(f">{o}</th>" in tables for o in OPTIMIZERS)


def test_ert_is_evaluations_to_the_target_summed_over_runs_per_success():
    import pandas as pd

    # three runs: the target (regret <= 1) reached at evaluation 2 and 4, never in the third
    # (5 evaluations); a NaN regret (no incumbent yet) is not a hit
    regret = [np.nan, 0.5, 0.4, 3.0, 2.0, 1.5, 1.0, 9, 8, 7, 6, 5]
    cell = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    evals = [1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 5]
    trials = pd.DataFrame({"problem": "p", "optimizer": "o", "cell": cell,
                           "regret": regret, "evals": evals})
    table = ert(trials, [1.0, 0.1, 100.0])
    row = table.loc[("p", "o", 1.0)]
    assert (row["successes"], row["runs"], row["evals"]) == (2, 3, 2 + 4 + 5)
    assert row["ert"] == (2 + 4 + 5) / 2
    assert math.isinf(table.loc[("p", "o", 0.1), "ert"])
    assert table.loc[("p", "o", 100.0), "ert"] == (2 + 1 + 1) / 3
    with pytest.raises(ValueError, match="targets must be finite precisions"):
        ert(trials, -1.0)


def _doctor(results: Path, tmp_path: Path, problem: str, change) -> Path:
    """A copy of ``results`` where ``change(columns)`` edited one cell (random, repeat 1),
    rewritten through the store so that it stays a valid cell file."""
    copy = tmp_path / "doctored"
    shutil.copytree(results, copy)
    path = ResultsDir(copy).cell_path(problem, "random", 1)
    table, meta = read_cell(path)
    columns = table.to_pydict()
    change(columns)
    ResultsDir(copy).write_cell(path, columns, meta)
    return copy


def test_a_replay_that_differs_from_the_stored_values_is_refused(results, tmp_path, capsys):
    def shift(columns):
        columns["value"][7] += 1e-3
        columns["true_value"][7] += 1e-3

    doctored = _doctor(results, tmp_path, "bbob-f03-2d", shift)
    for fmt in ("coco", "ioh"):
        out = tmp_path / f"out-{fmt}"
        code, _, err = export(fmt, doctored, out, capsys)
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert "bbob-f03-2d/random/repeat-1: trial 7" in err
        assert "the problem instance is not the one that was run" in err
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_failed_trials_count_as_evaluations(results, tmp_path, capsys):
    def fail(columns):
        for k in (4, 5):
            columns["status"][k] = "failed"
            columns["value"][k] = columns["true_value"][k] = math.nan
            columns["error"][k] = "TimeoutError: over 1 s"

    doctored = _doctor(results, tmp_path, "bbob-f01-2d", fail)
    code, text, _ = export("coco", doctored, tmp_path / "coco", capsys)
    assert code == 0
    assert "2 failed trials replayed as evaluations" in text
    info = (tmp_path / "coco" / "bbob" / "random" / "bbobexp_f1.info").read_text()
    # the run of repeat 1 (instance 2) still holds all its 60 evaluations
    assert "2:60|" in info
    code, text, _ = export("ioh", doctored, tmp_path / "ioh", capsys)
    assert code == 0
    meta = json.loads((tmp_path / "ioh" / "random" / "IOHprofiler_f1_Sphere.json").read_text())
    assert [r["evals"] for r in meta["scenarios"][0]["runs"]] == [60] * REPEATS


def test_bad_input_is_one_line_exit_2_and_writes_nothing(results, tmp_path, capsys):
    code, _, err = export("coco", tmp_path / "missing", tmp_path / "out", capsys)
    assert code == 2 and "is not a results folder (no such folder)" in err
    # a folder without a BBOB cell
    branin = tmp_path / "branin"
    api.run("smoke", problems=["branin"], optimizers=["random"], repeats=1, budget=5,
            out=branin)
    code, _, err = export("coco", branin, tmp_path / "out", capsys)
    assert code == 2 and "no BBOB cells to export" in err
    assert not (tmp_path / "out").exists()
    # an output folder that holds something is never written into
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    for fmt in ("coco", "ioh"):
        code, _, err = export(fmt, results, taken, capsys)
        assert code == 2 and "exists and is not an empty folder" in err
        assert len(err.strip().splitlines()) == 1
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    # an empty one is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export("ioh", results, empty, capsys)[0] == 0
    assert (empty / "random").is_dir()


def _dat_runs(path: Path) -> list[np.ndarray]:
    """The runs of an IOHprofiler .dat file: (evaluations, raw_y) rows, one array per run
    (each run starts with its header line)."""
    runs: list[list[list[float]]] = []
    for line in path.read_text().splitlines():
        if line.startswith("evaluations"):
            assert line.split() == ["evaluations", "raw_y"]
            runs.append([])
        elif line.strip():
            runs[-1].append([float(v) for v in line.split()])
    return [np.array(r) for r in runs]


def test_ioh_export_matches_hpbenchs_best_so_far(results, tmp_path, capsys):
    out = tmp_path / "ioh"
    code, text, _ = export("ioh", results, out, capsys)
    assert code == 0 and f"IOHprofiler data of {5 * 2 * REPEATS} cells" in text
    trials = load(results).trials
    cases = [("bbob-f03-2d", "de", "IOHprofiler_f3_Rastrigin.json"),
             ("branin", "random", "IOHprofiler_f*_hpbench-branin.json"),
             ("bbob-mixint-f01-5d", "de", "IOHprofiler_f*_hpbench-bbob-mixint-f01-5d.json"),
             ("bbob-noisy-f101-2d", "random",
              "IOHprofiler_f*_hpbench-bbob-noisy-f101-2d.json")]
    for problem, opt, pattern in cases:
        (meta_file,) = (out / opt).glob(pattern)
        meta = json.loads(meta_file.read_text())
        assert meta["algorithm"]["name"] == opt and meta["maximization"] is False
        assert meta["attributes"] == ["evaluations", "raw_y"]
        (scenario,) = meta["scenarios"]
        assert [r["evals"] for r in scenario["runs"]] == [60] * REPEATS
        runs = _dat_runs(out / opt / scenario["path"])
        assert len(runs) == REPEATS
        for repeat, logged in enumerate(runs):
            cell = trials[(trials["problem"] == problem) & (trials["optimizer"] == opt)
                          & (trials["repeat"] == repeat)]
            regret = cell["regret"].to_numpy()  # best-so-far true value − optimum
            evals = logged[:, 0].astype(int)
            best = np.minimum.accumulate(logged[:, 1])
            # every improvement is logged: the running minimum of the logged values is
            # hpbench's best-so-far at those evaluations
            assert evals[-1] == 60
            np.testing.assert_allclose(best, regret[evals - 1], rtol=1e-9, atol=1e-9)
            assert best[-1] == pytest.approx(np.nanmin(regret), rel=1e-9, abs=1e-9)
            assert scenario["runs"][repeat]["best"]["y"] == pytest.approx(best[-1], rel=1e-9,
                                                                          abs=1e-9)


def test_cocos_noise_free_best_is_hpbenchs_regret_on_mixint_and_noisy(results, coco):
    """COCO logs each run's best noise-free f − f_opt; on the mixed-integer and the noisy
    problem (whose noisy values cocoex draws anew) it is hpbench's final regret."""
    trials = load(results).trials
    for suite, problem, f, d in [("bbob-noisy", "bbob-noisy-f101-2d", 101, 2),
                                 ("bbob-mixint", "bbob-mixint-f01-5d", 1, 5)]:
        for opt in OPTIMIZERS:
            dat = (coco / suite / opt / f"data_f{f}" / f"bbobexp_f{f}_DIM{d}.dat").read_text()
            blocks = dat.split("%")[1:]  # one block per run, each opens with a header
            assert len(blocks) == REPEATS
            for repeat, block in enumerate(blocks):
                last = [ln for ln in block.splitlines()[1:] if ln.strip()][-1].split()
                cell = trials[(trials["problem"] == problem) & (trials["optimizer"] == opt)
                              & (trials["repeat"] == repeat)]
                assert int(last[0]) == 60
                assert float(last[2]) == pytest.approx(cell["regret"].min(), rel=1e-8)
