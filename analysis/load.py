"""One tidy table of a results folder, with the derived best-so-far and regret columns.

Reads through the store (``hpbench.store.ResultsDir``): its one cell reader for the cell
files' trial columns and metadata, ``suite.toml`` and ``run.json`` when present. Only the
columns the analysis needs are read (``COLUMNS``: no config, error or info strings), and
every derived column is computed with vectorized pandas / numpy over the whole table — no
loop over rows.

Regret (the definition every figure and table uses):

* the incumbent of a cell after a trial is the best ``true_value`` (the noise-free value;
  ``value`` where a problem records none) among its ``ok`` trials at *full* fidelity so far;
* regret = incumbent − reference, where the reference is the problem's optimum when its
  kind is ``"exact"``; the best-known value of the cell's own problem instance
  (``"best-known"``: each repeat may be another data split with its own best known, or the
  best value a run reached on that instance when a run beat it); or, when no optimum is
  known for every cell of the problem, the best value any optimizer
  reached on the same problem *instance* — cells with the same problem fingerprint, i.e. the
  same repeat, since repeats may be different instances (another data split or shift) with
  different attainable values — and figures say which ("vs best known", "vs best seen");
* before a cell's first ok full-fidelity trial its regret is undefined (NaN); aggregates
  treat that as worse than any number (``+inf``), never as missing.

That is the *oracle* regret: it credits a method with the best true value among the points it
evaluated, which a user who sees only noisy values cannot pick out. *Incumbent* regret
(``incumbent_regret``) scores the config the optimizer would return — its ``recommend``
hook's answer (trial column ``incumbent``), else the best observed value among ok
full-fidelity trials — by its true value against the same reference. ``select_regret``
decides per problem which one the ``regret`` column, and so every figure and table, holds:
by default incumbent regret on noisy problems (an ok trial's value differs from its true
value), oracle regret elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from hpbench.memory import large_tables
from hpbench.store import ResultsDir
from hpbench.suite import stored_suite

#: relative gap below a best-known value that is round-off, not a run beating the table
ROUND_OFF = 1e-12
#: regret is clipped to this floor before taking logs (a regret of exactly 0 is drawn here)
FLOOR = 1e-12

#: the trial columns the analysis reads (no config, error or info strings): names of
#: ``hpbench.trials.TRIAL_COLUMNS``, whose types the store casts every file's columns to
COLUMNS = ("trial", "fidelity", "value", "true_value", "test_value", "status", "cost",
           "cum_cost", "budget_used", "ask_s", "eval_s", "tell_s", "t_start", "t_end",
           "incumbent", "v_start", "v_end")

#: reference kinds and the words figures use for them
REF_LABELS = {"optimum": "regret", "best known": "regret vs best known",
              "best seen": "regret vs best seen"}

#: which regret the figures and tables show (``select_regret``): ``oracle`` the best true
#: value among the evaluated points, ``incumbent`` the true value of the config the
#: optimizer would return, ``auto`` incumbent on noisy problems and oracle elsewhere
REGRET_METRICS = ("auto", "oracle", "incumbent")

#: relative slack when comparing a trial's fidelity with full fidelity, and a budget point
#: with a grid point (the runner's own EPS: fidelity fractions do not add up exactly)
EPS = 1e-9


class ResultsError(ValueError):
    """A results folder that cannot be analysed (no cell files, mixed suites, …)."""


@dataclass
class Results:
    """A loaded results folder.

    ``trials``: one row per trial, ordered by cell then trial, with the store's columns that
    the analysis needs plus the derived ones (see ``derive``). ``cells``: one row per cell
    file. ``problems``: one row per problem with its regret reference. ``optimizers``: the
    optimizer names in a fixed order (the suite's, then alphabetical), which also fixes their
    colours. ``notes``: things a reader must be told (references, missing baselines, …).
    """

    trials: pd.DataFrame
    cells: pd.DataFrame
    problems: pd.DataFrame
    optimizers: list[str]
    metas: list[dict[str, Any]]
    suite: str
    fingerprint: str
    fingerprint_source: str
    suite_toml: str = ""
    run_info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def problem_names(self) -> list[str]:
        return list(self.problems.index)

    def ref_label(self, problem: str) -> str:
        """How the regret of ``problem`` is measured, in words for an axis label: its
        reference, and which regret on a noisy problem or where incumbent regret is used."""
        label = REF_LABELS[self.problems.at[problem, "ref_kind"]]
        if "metric" not in self.problems:
            return label
        noisy = bool(self.problems.at[problem, "noisy"])
        if self.problems.at[problem, "metric"] == "incumbent":
            return "incumbent " + label + (" (noisy problem)" if noisy else "")
        return ("oracle " + label) if noisy else label

    def metric_note(self) -> str:
        """Which problems aggregates score by incumbent regret, for a label ("" if none)."""
        if "metric" not in self.problems:
            return ""
        use = self.problems["metric"] == "incumbent"
        if not use.any():
            return ""
        if use.all():
            return "incumbent regret"
        if (use == self.problems["noisy"]).all():
            return "incumbent regret (noisy problems)"
        return "incumbent regret on " + ", ".join(self.problems.index[use])

    def regret_words(self) -> pd.Series:
        """Per problem, its reference kind and, where it is not the oracle regret or the
        problem is noisy, which regret: the tables' "reference" column."""
        words = self.problems["ref_kind"].astype(str)
        if "metric" not in self.problems:
            return words
        shown = (self.problems["metric"] == "incumbent") | self.problems["noisy"]
        return words.where(~shown, words + "; " + self.problems["metric"].astype(str))

    def wall_label(self, problem: str) -> str:
        """The words of ``problem``'s wall-time axis: virtual time where its cells ran on
        simulated workers (``--sim-workers``, docs/simulated-clock.md), and how many."""
        cells = self.cells[self.cells["problem"] == problem]
        ks = sorted({int(k) for k in cells.get("sim_workers", pd.Series(dtype=int)) if k > 0})
        if not ks:
            return "wall time (s)"
        workers = f"{ks[0]}" if len(ks) == 1 else ", ".join(map(str, ks))
        label = f"virtual wall time (s), {workers} simulated workers"
        if (cells["sim_workers"] <= 0).any():
            label += "; measured for the cells not simulated"
        return label

    def common_budget(self) -> tuple[float, str] | None:
        """(amount, unit) when every problem ran under the same budget, else None."""
        pairs = set(zip(self.problems["budget_amount"], self.problems["budget_unit"]))
        return next(iter(pairs)) if len(pairs) == 1 else None


def slim_results(results: Results, problems: Sequence[str]) -> Results:
    """``results`` without trials, and with the cells of ``problems`` only: what drawing
    their figures reads, small enough to send to another process."""
    cells = results.cells
    mine = cells[cells["problem"].isin(list(problems))][["problem", "optimizer", "repeat"]]
    return dataclasses.replace(results, trials=pd.DataFrame(), cells=mine, metas=[],
                               run_info={}, suite_toml="", notes=[])


def suite_fingerprint(metas: Sequence[dict[str, Any]]) -> str:
    """A fingerprint of a whole result set computed from its cells' metadata.

    It hashes, for every cell in a canonical order, the cell keys, the problem instance's
    fingerprint and the budget, so two folders holding the same cells of the same problem
    instances get the same fingerprint whatever order the files were written in. Used when
    ``run.json`` (which carries the suite's fingerprint written by ``hpbench run``) is missing.
    """
    rows = sorted(
        (str(m.get("suite", "")), str(m.get("problem", "")), str(m.get("optimizer", "")),
         int(m.get("repeat", -1)), str(m.get("fingerprint", "")),
         json.dumps(m.get("budget"), sort_keys=True), int(m.get("master_seed", 0) or 0))
        for m in metas)
    blob = json.dumps(rows).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def read_folder(results_dir: Path | str, *, threads: int | None = None
                ) -> tuple[pd.DataFrame, list[dict[str, Any]], np.ndarray, list[str]]:
    """Every cell file's analysis columns (one frame) and metadata, rows per cell, and why
    each corrupt file was left out.

    The store's one reader (``ResultsDir.read``: the same files, the same casts to the
    ``TRIAL_COLUMNS`` types, every page's checksum verified), asked for ``COLUMNS`` only; a
    corrupt cell is left out and named (the report says so), not read half.
    ``threads`` > 1 reads files in a thread pool, which pays where opening a file waits on the
    network (NFS, cluster file systems). ``status`` comes back dictionary-encoded (a
    categorical: three values over millions of rows).
    """
    tables, metas, corrupt = ResultsDir(results_dir).read(list(COLUMNS), threads=threads,
                                                          skip_corrupt=True)
    if not tables:
        if corrupt:
            raise ResultsError(f"{results_dir}: no readable cell file; {len(corrupt)} corrupt, "
                               f"the first: {corrupt[0]}")
        raise ResultsError(f"{results_dir}: no cell files (*/*/repeat-*.parquet) to analyse")
    lengths = np.array([t.num_rows for t in tables], dtype=np.int64)
    table = pa.concat_tables(tables)
    status = table.column("status").dictionary_encode()
    table = table.set_column(table.schema.get_field_index("status"), "status", status)
    return table.to_pandas(), metas, lengths, corrupt


def _cells_frame(metas: list[dict[str, Any]], lengths: np.ndarray) -> pd.DataFrame:
    rows = []
    for m, n in zip(metas, lengths):
        optimum = m.get("optimum") or {}
        fid = m.get("fidelity") or {}
        budget = m.get("budget") or {}
        rows.append({
            "suite": m.get("suite", ""), "problem": m["problem"], "optimizer": m["optimizer"],
            "repeat": int(m["repeat"]), "status": m.get("status", ""),
            "reason": m.get("reason", ""), "n_rows": int(n),
            "optimum": float(optimum["value"]) if optimum.get("value") is not None
            else math.nan,
            "optimum_kind": optimum.get("kind", "") if optimum else "",
            "budget_amount": float(budget.get("amount", math.nan)),
            "budget_unit": budget.get("unit", "evaluations"),
            "fidelity_high": float(fid["high"]) if fid.get("high") is not None else math.nan,
            "fingerprint": m.get("fingerprint", ""),
            "git_revision": m.get("git_revision", ""),
            # K simulated workers (docs/simulated-clock.md); 0: not simulated
            "sim_workers": int(m.get("sim_workers") or 0),
        })
    cells = pd.DataFrame(rows)
    cells.index.name = "cell"
    return cells


def _optimizer_order(names: Sequence[str], folder: ResultsDir) -> list[str]:
    """The suite's optimizers (those its ``[[groups]]`` add after its own) that have cells,
    then the others alphabetically; alphabetically throughout without a readable
    ``suite.toml``. Names are taken as written (``resolve=False``): a folder is analysed
    without the plugins that ran it."""
    present = set(names)
    try:
        suite = stored_suite(folder)
    except (OSError, ValueError):  # SuiteError is a ValueError
        suite = None
    listed = suite.all_optimizers() if suite is not None else ()
    order = [name for name in listed if name in present]
    return order + sorted(present - set(order))


@large_tables()  # hpbench.memory: how to hold millions of rows
def load(results_dir: Path | str, *, threads: int | None = None,
         regret: str = "auto", cache: bool = True) -> Results:
    """Load ``results_dir`` (what ``hpbench run --out`` wrote) and derive regret columns;
    ``regret`` picks the metric the figures show (``select_regret``). ``cache``: keep the
    result in the folder's ``.cache/`` and take it from there while no cell changed
    (``hpbench.analysis.cache``; every cell file is still read and its checksum verified).
    ``threads``: files read at once (default: the cores, at most 4)."""
    from hpbench.analysis import cache as cache_module
    from hpbench.analysis.parallel import default_workers

    threads = default_workers() if threads is None else threads
    if not cache:
        return _load_uncached(results_dir, threads=threads, regret=regret)
    return cache_module.load_cached(results_dir, _load_uncached, Results, threads=threads,
                                    regret=regret)


def _load_uncached(results_dir: Path | str, *, threads: int | None = None,
                   regret: str = "auto") -> Results:
    folder = ResultsDir(results_dir)
    frame, metas, lengths, corrupt = read_folder(folder.root, threads=threads)
    cells = _cells_frame(metas, lengths)
    if not lengths.sum():
        counts = cells["status"].value_counts().to_dict()
        raise ResultsError(f"{folder.root}: no trials to analyse in {len(cells)} cell files "
                           f"({', '.join(f'{v} {k}' for k, v in counts.items())})")
    run_info = folder.read_run_info()
    suites = sorted(set(cells["suite"]))
    notes: list[str] = [f"a corrupt cell file is left out: {reason}" for reason in corrupt]
    if len(suites) > 1:
        notes.append(f"the folder mixes cells of several suites: {', '.join(suites)}")
    if run_info.get("suite_fingerprint"):
        fingerprint, source = str(run_info["suite_fingerprint"]), "run.json"
    else:
        fingerprint, source = suite_fingerprint(metas), "cell metadata"
    suite_name = run_info.get("suite") or (suites[0] if len(suites) == 1 else "+".join(suites))
    optimizers = _optimizer_order(cells["optimizer"].unique().tolist(), folder)
    trials = frame
    problems = derive(trials, cells, lengths, notes)
    return select_regret(Results(
        trials=trials, cells=cells, problems=problems, optimizers=optimizers, metas=metas,
        suite=str(suite_name), fingerprint=fingerprint, fingerprint_source=source,
        suite_toml=folder.suite_text(), run_info=run_info, notes=notes), regret)


def _segment_prev(values: np.ndarray, starts: np.ndarray, fill: float) -> np.ndarray:
    """values shifted by one row within each cell (``fill`` on a cell's first row)."""
    prev = np.empty_like(values)
    prev[1:] = values[:-1]
    if len(prev):
        prev[starts[starts < len(prev)]] = fill
    return prev


def _segment_ffill_index(mask: np.ndarray, code: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each row, the index of the last row at or before it in the same cell where
    ``mask`` holds; -1 when none."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    idx = np.maximum.accumulate(idx) if len(idx) else idx
    # a carried index from an earlier cell does not count
    return np.where(idx >= starts[code], idx, -1)


def derive(trials: pd.DataFrame, cells: pd.DataFrame, lengths: np.ndarray,
           notes: list[str] | None = None) -> pd.DataFrame:
    """Add the derived columns to ``trials`` (in place) and return the problems frame.

    Added columns: ``cell`` (row of ``cells``), ``problem``, ``optimizer`` (categoricals),
    ``repeat``; ``full`` (ok and at full fidelity), ``best`` (incumbent true value), ``regret``
    (≥ 0; NaN before the first full-fidelity ok trial), ``evals`` (full-fidelity-equivalent
    evaluations spent when the budget counts evaluations, else the number of evaluations),
    ``frac`` (share of the cell's budget spent), ``wall`` (seconds since the cell's first
    trial started; the virtual ``v_end`` in a cell run on simulated workers), and for the
    validation-versus-test picture ``inc_value`` (best observed ``value`` so far, what the
    optimizer itself would return), ``inc_test`` (that incumbent's ``test_value``),
    ``val_regret`` and ``test_regret``.

    ``cells`` gains ``problem_code``, ``optimizer_code``, ``instance`` (cells with the same
    problem fingerprint), ``ref`` and ``test_ref`` (the references of its regrets) and
    ``first_regret``; the problems frame holds each problem's reference kind, optimum,
    budget, fidelity and ``r0`` (the median first regret, the scale of runtime targets).
    """
    notes = notes if notes is not None else []
    code = np.repeat(np.arange(len(cells), dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    problem_names = _key_columns(trials, cells, code)
    full, tv = _incumbents(trials, cells, code)
    problems, ref, icode = _references(trials, cells, problem_names, code, tv, notes)
    _budget_axes(trials, cells, code)
    _validation_and_test(trials, cells, problems, code, starts, full, ref, icode)
    _incumbent_regret(trials, problems, lengths, code, starts, full, ref)
    _first_regrets(trials, cells, problems, code)
    _cell_notes(cells, notes)
    return problems


def _key_columns(trials: pd.DataFrame, cells: pd.DataFrame, code: np.ndarray) -> list[str]:
    """``cell``, ``problem``, ``optimizer`` (categoricals over the sorted names) and
    ``repeat`` of every trial; the cells' ``problem_code`` and ``optimizer_code``. Returns
    the sorted problem names."""
    trials["cell"] = code
    problem_names = sorted(cells["problem"].unique())
    optimizer_names = sorted(cells["optimizer"].unique())
    cells["problem_code"] = pd.Categorical(cells["problem"], problem_names).codes.astype(np.int64)
    cells["optimizer_code"] = pd.Categorical(cells["optimizer"],
                                             optimizer_names).codes.astype(np.int64)
    trials["problem"] = pd.Categorical.from_codes(cells["problem_code"].to_numpy()[code],
                                                  problem_names)
    trials["optimizer"] = pd.Categorical.from_codes(
        cells["optimizer_code"].to_numpy()[code], optimizer_names)
    trials["repeat"] = cells["repeat"].to_numpy()[code]
    return problem_names


def _incumbents(trials: pd.DataFrame, cells: pd.DataFrame, code: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """``full`` and ``best`` (the incumbent true value) of every trial; returns ``full``
    and the true values that count (``inf`` where a trial is not an ok full-fidelity one)."""
    # compared on the categorical's codes, not 3 million strings
    ok = (trials["status"] == "ok").to_numpy(dtype=bool)
    fid = trials["fidelity"].to_numpy(dtype=float)
    high = cells["fidelity_high"].to_numpy()[code]
    with np.errstate(invalid="ignore"):
        full = ok & (np.isnan(fid) | np.isnan(high) | (fid >= high * (1 - EPS)))
    value = trials["value"].to_numpy(dtype=float)
    true_value = trials["true_value"].to_numpy(dtype=float)
    tv = np.where(np.isnan(true_value), value, true_value)
    tv = np.where(full & np.isfinite(tv), tv, np.inf)
    trials["full"] = full

    # incumbent true value: a cumulative minimum restarted at every cell
    best = pd.Series(tv).groupby(code, sort=False).cummin().to_numpy() if len(tv) else tv
    trials["best"] = np.where(np.isinf(best), np.nan, best)
    return full, tv


def _references(trials: pd.DataFrame, cells: pd.DataFrame, problem_names: list[str],
                code: np.ndarray, tv: np.ndarray, notes: list[str]
                ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The regret reference of every cell (the optimum per problem, or the best value seen
    per instance) and ``regret``; the cells' ``instance`` and ``ref``. Returns the problems
    frame, every trial's reference and the cells' instance codes."""
    pcode = cells["problem_code"].to_numpy()[code]
    inst_key = np.where(cells["fingerprint"].astype(str) != "",
                        "fp:" + cells["fingerprint"].astype(str),
                        "repeat:" + cells["repeat"].astype(str))
    icode = pd.factorize(pd.Series(list(zip(cells["problem"], inst_key))))[0]
    cells["instance"] = icode
    tv_nan = np.where(np.isinf(tv), np.nan, tv)
    inst_seen = pd.Series(tv_nan).groupby(icode[code]).min().reindex(
        range(icode.max() + 1 if len(icode) else 0)).to_numpy()
    seen = pd.Series(tv_nan).groupby(pcode).min()
    seen = seen.reindex(range(len(problem_names))).to_numpy()
    cell_opt = cells["optimum"].to_numpy(dtype=float)
    cell_seen = inst_seen[icode] if len(icode) else cell_opt
    cell_ref = np.full(len(cells), np.nan)
    rows = []
    for p, name in enumerate(problem_names):
        in_p = (cells["problem_code"] == p).to_numpy()
        row, cell_ref[in_p] = _problem_reference(name, cells[in_p], cell_opt[in_p],
                                                 cell_seen[in_p], float(seen[p]), notes)
        rows.append(row)
    problems = pd.DataFrame(rows).set_index("problem")
    seen_names = [n for n in problem_names if problems.at[n, "ref_kind"] == "best seen"]
    if seen_names:
        notes.append("no optimum is known for " + ", ".join(seen_names)
                     + ": their regret is measured against the best value any optimizer "
                       "reached on the same problem instance (vs best seen)")
    cell_ref = np.where(np.isnan(cell_ref), cell_seen, cell_ref)
    cells["ref"] = cell_ref
    ref = cell_ref[code]
    with np.errstate(invalid="ignore"):
        trials["regret"] = np.maximum(trials["best"].to_numpy() - ref, 0.0)
    return problems, ref, icode


def _problem_reference(name: str, pc: pd.DataFrame, own: np.ndarray, reached: np.ndarray,
                       best_seen: float, notes: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """One problem's reference: its row of the problems frame and the reference of each of
    its cells (``pc``; ``own``: their optima, ``reached``: the best seen on their instance);
    NaN where the best seen on the instance is the reference."""
    optimum = pc["optimum"].dropna()
    kinds = set(pc["optimum_kind"]) - {""}
    opt_value = float(optimum.iloc[0]) if len(optimum) else math.nan
    kind = "exact" if kinds == {"exact"} else ("best-known" if kinds else "")
    every = bool(len(pc)) and bool(np.isfinite(own).all())
    refs = np.full(len(pc), np.nan)
    if every and kind == "exact":
        ref, ref_kind = opt_value, "optimum"
        refs = own
        tol = 1e-6 * max(1.0, abs(opt_value))
        if best_seen < opt_value - tol:
            notes.append(f"{name}: a run reached {best_seen:.6g}, below the published "
                         f"optimum {opt_value:.6g}; regret is clipped at 0 there")
    elif every:
        # a best-known value per instance (each repeat has its own data split): the
        # reference of a cell is its own instance's, or what a run reached on that
        # instance where a run beat it
        ref_kind = "best known"
        beaten = reached < own
        refs = np.where(beaten, reached, own)  # regret never below 0
        # a value that is itself a solver's result (ridge-hypergrad) is reached to within
        # round-off, sometimes an ulp below: only a beat by more than that is news
        beaten &= reached < own - ROUND_OFF * np.maximum(1.0, np.abs(own))
        if np.unique(own).size > 1:
            ref = opt_value = math.nan  # no one value for the problem
        else:
            ref = opt_value
        if beaten.any():
            k = int(np.argmax(np.where(beaten, own - reached, -np.inf)))
            notes.append(f"{name}: runs beat the best-known value on "
                         f"{len(set(pc['instance'][beaten]))} instance(s) (by up to "
                         f"{own[k] - reached[k]:.3g}: {reached[k]:.6g} vs {own[k]:.6g}); "
                         "regret there is measured against the best run")
    else:
        # per instance: repeats may be different instances (another data split, another
        # shift), each with its own attainable best
        ref, ref_kind = math.nan, "best seen"
        if len(optimum):
            notes.append(f"{name}: an optimum is known for {len(optimum)} of {len(pc)} "
                         "cells only; regret is measured against the best seen on each "
                         "instance for all of them")
    amounts = pc["budget_amount"].unique()
    units = pc["budget_unit"].unique()
    if len(amounts) > 1 or len(units) > 1:
        notes.append(f"{name}: cells ran under different budgets "
                     f"({sorted(map(float, amounts))} {sorted(units)})")
    row = {"problem": name, "ref": ref, "ref_kind": ref_kind, "best_seen": best_seen,
           "optimum": opt_value, "optimum_kind": kind,
           "budget_amount": float(np.max(amounts)), "budget_unit": str(units[0]),
           "fidelity_high": float(pc["fidelity_high"].iloc[0]),
           "n_cells": len(pc), "n_instances": int(pc["instance"].nunique())}
    return row, refs


def _budget_axes(trials: pd.DataFrame, cells: pd.DataFrame, code: np.ndarray) -> None:
    """``evals``, ``frac`` and ``wall`` of every trial (``wall``: the virtual end time where a
    cell ran on simulated workers, whose clock starts at 0, else the measured seconds since
    the cell's first trial started)."""
    amount = cells["budget_amount"].to_numpy()[code]
    by_evals = (cells["budget_unit"].to_numpy() == "evaluations")[code]
    used = trials["budget_used"].to_numpy(dtype=float)
    trial_no = trials["trial"].to_numpy(dtype=float) + 1.0
    trials["evals"] = np.where(by_evals, used, trial_no)
    trials["frac"] = used / amount
    t_start = trials["t_start"].to_numpy(dtype=float)
    if len(t_start):
        first = pd.Series(t_start).groupby(code, sort=False).transform("min").to_numpy()
    else:
        first = t_start
    wall = trials["t_end"].to_numpy(dtype=float) - first
    if "v_end" in trials:
        v_end = trials["v_end"].to_numpy(dtype=float)
        wall = np.where(np.isfinite(v_end), v_end, wall)
    trials["wall"] = wall


def _validation_and_test(trials: pd.DataFrame, cells: pd.DataFrame, problems: pd.DataFrame,
                         code: np.ndarray, starts: np.ndarray, full: np.ndarray,
                         ref: np.ndarray, icode: np.ndarray) -> None:
    """The incumbent the optimizer would report (best observed value) and its test value:
    ``inc_value``, ``inc_test``, ``val_regret``, ``test_regret``; the cells' ``test_ref``
    and the problems' ``has_test``."""
    value = trials["value"].to_numpy(dtype=float)
    v = np.where(full & np.isfinite(value), value, np.inf)
    cm = pd.Series(v).groupby(code, sort=False).cummin().to_numpy() if len(v) else v
    prev = _segment_prev(cm, starts, np.inf)
    new = np.isfinite(v) & (v < prev)
    at = _segment_ffill_index(new, code, starts)
    test = trials["test_value"].to_numpy(dtype=float)
    have = at >= 0
    safe = np.where(have, at, 0)
    trials["inc_value"] = np.where(have, value[safe] if len(value) else value, np.nan)
    trials["inc_test"] = np.where(have, test[safe] if len(test) else test, np.nan)
    test_full = np.where(full, test, np.nan)
    test_inst = pd.Series(test_full).groupby(icode[code]).min().reindex(
        range(icode.max() + 1 if len(icode) else 0)).to_numpy()
    cells["test_ref"] = test_inst[icode] if len(icode) else np.array([])
    has_test = cells.groupby("problem")["test_ref"].apply(lambda v: bool(np.isfinite(v).any()))
    problems["has_test"] = has_test.reindex(problems.index).fillna(False).astype(bool)
    with np.errstate(invalid="ignore"):
        trials["val_regret"] = np.maximum(trials["inc_value"].to_numpy() - ref, 0.0)
        trials["test_regret"] = np.maximum(
            trials["inc_test"].to_numpy() - cells["test_ref"].to_numpy()[code], 0.0)


def _incumbent_regret(trials: pd.DataFrame, problems: pd.DataFrame, lengths: np.ndarray,
                      code: np.ndarray, starts: np.ndarray, full: np.ndarray,
                      ref: np.ndarray) -> None:
    """``incumbent`` (the trial number of the config the optimizer would return: its
    ``recommend`` hook's answer as recorded, else — no hook, no opinion, or a file written
    before the column — the best observed value among ok full-fidelity trials so far; NaN
    before there is one), ``incumbent_regret`` (that config's true value minus the
    reference, ≥ the oracle ``regret``), ``oracle_regret`` (a copy of ``regret`` that
    ``select_regret`` keeps), and the problems' ``noisy`` (some ok trial's ``value``
    differs from its ``true_value``)."""
    value = trials["value"].to_numpy(dtype=float)
    true_value = trials["true_value"].to_numpy(dtype=float)
    v = np.where(full & np.isfinite(value), value, np.inf)
    cm = pd.Series(v).groupby(code, sort=False).cummin().to_numpy() if len(v) else v
    best_seen = _segment_ffill_index(np.isfinite(v) & (v < _segment_prev(cm, starts, np.inf)),
                                     code, starts)
    hook = trials["incumbent"].to_numpy(dtype=float) if "incumbent" in trials \
        else np.full(len(v), np.nan)
    first = starts[code] if len(code) else np.zeros(0, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        named = np.isfinite(hook) & (hook >= 0) & (hook < lengths[code])
    row = np.where(named, first + np.where(named, hook, 0).astype(np.int64), best_seen)
    # a hook may only name an ok full-fidelity trial (the runner checks); anything else in
    # a file falls back to the default
    bad = (row >= 0) & ~full[np.maximum(row, 0)] if len(row) else row >= 0
    row = np.where(bad, best_seen, row)
    tv = np.where(np.isnan(true_value), value, true_value)
    have = row >= 0
    safe = np.maximum(row, 0)
    trials["incumbent"] = np.where(have, (safe - first).astype(float), np.nan)
    with np.errstate(invalid="ignore"):
        trials["incumbent_regret"] = np.where(
            have, np.maximum((tv[safe] if len(tv) else tv) - ref, 0.0), np.nan)
        tol = 1e-12 * np.maximum(1.0, np.abs(true_value))
        differs = full & np.isfinite(value) & np.isfinite(true_value) \
            & (np.abs(value - true_value) > tol)
    trials["oracle_regret"] = trials["regret"]
    pcode = trials["problem"].cat.codes.to_numpy()  # over the sorted names: problems' order
    problems["noisy"] = np.bincount(pcode[differs], minlength=len(problems))[
        :len(problems)] > 0


def select_regret(results: Results, metric: str = "auto") -> Results:
    """Make ``trials["regret"]`` — what every figure and table reads — the ``metric`` of
    each problem (``REGRET_METRICS``; the one place it is decided), in place; the problems
    gain ``metric`` ("oracle" or "incumbent"), and the notes say which problems use
    incumbent regret. ``auto``: incumbent regret on noisy problems (``problems["noisy"]``),
    where the oracle would credit a method with the true value of a point it could not
    recognize as its best; oracle elsewhere. Returns ``results``."""
    if metric not in REGRET_METRICS:
        raise ValueError(f"regret metric must be one of {list(REGRET_METRICS)}, "
                         f"got {metric!r}")
    problems, trials = results.problems, results.trials
    use = problems["noisy"].to_numpy(dtype=bool) if metric == "auto" else \
        np.full(len(problems), metric == "incumbent")
    problems["metric"] = np.where(use, "incumbent", "oracle")
    pcode = trials["problem"].cat.codes.to_numpy()
    trials["regret"] = np.where(use[pcode] if len(pcode) else np.zeros(0, dtype=bool),
                                trials["incumbent_regret"].to_numpy(dtype=float),
                                trials["oracle_regret"].to_numpy(dtype=float))
    results.notes[:] = [n for n in results.notes if not n.startswith(_METRIC_NOTE)]
    names = list(problems.index[use])
    if names:
        where = "every problem" if len(names) == len(problems) else ", ".join(names)
        results.notes.append(f"{_METRIC_NOTE} (the true value of the config the optimizer "
                             f"would return, not the best true value it evaluated) on "
                             f"{where}" + (" (noisy)" if metric == "auto" else ""))
    return results


_METRIC_NOTE = "regret is incumbent regret"


def _first_regrets(trials: pd.DataFrame, cells: pd.DataFrame, problems: pd.DataFrame,
                   code: np.ndarray) -> None:
    """The regret of a cell's first defined incumbent (``first_regret``) and its median per
    problem (``r0``): the scale for runtime targets."""
    n_cells = len(cells)
    if len(trials):
        first_regret = pd.Series(trials["regret"].to_numpy()).groupby(code).first()
        first_regret = first_regret.reindex(range(n_cells))
    else:
        first_regret = pd.Series(np.nan, index=range(n_cells))
    cells["first_regret"] = first_regret.to_numpy()
    problems["r0"] = cells.groupby("problem")["first_regret"].median().reindex(problems.index)


def _cell_notes(cells: pd.DataFrame, notes: list[str]) -> None:
    """Notes on failed and not-applicable cells."""
    failed = cells[cells["status"] == "failed"]
    if len(failed):
        by = failed.groupby("optimizer").size()
        notes.append("failed cells (their trials up to the failure are kept, the incumbent "
                     "carried forward): " + ", ".join(f"{o} ({n})" for o, n in by.items()))
    na = cells[cells["status"] == "not-applicable"]
    if len(na):
        pairs = sorted(set(zip(na["problem"], na["optimizer"])))
        notes.append(f"{len(pairs)} (problem, optimizer) pairs are not applicable and "
                     "left out: " + ", ".join(f"{o} on {p}" for p, o in pairs[:20])
                     + (" …" if len(pairs) > 20 else ""))
