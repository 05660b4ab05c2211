"""The surrogate model: gradient-boosted trees fitted on a recording, evaluated by numpy.

Features are the live space's canonical unit-cube coordinates (``UnitCube.canonical``;
categories and integers at their bin centres) with inactive conditional coordinates at
``INACTIVE`` (-1, outside the cube, so a tree separates "inactive" from every real value),
plus the log of the fidelity. Targets, per (config, fidelity level), over the recorded seeds
whose evaluation succeeded:

* ``value``: the mean of ``value`` (on its own scale: ``LOGGED`` says why);
* ``test_value``: the mean of ``test_value`` (a constant when the recording has none);
* ``variance``: the sample variance of ``value`` across seeds (ddof 1; 0 with one seed) once
  each seed's shift shared by every config is removed, i.e. the config × instance
  interaction — the part of the seed-to-seed variation that can change which config wins.
  Fitting the variance (not its log) keeps the squared-error fit unbiased for it;
* ``log_seconds``: the log of the mean measured CPU seconds of an evaluation from scratch.

Three kinds of model, compared by held-out accuracy in ``validate`` (``fit`` keeps the best
per problem; the choice is recorded in the model file and ``docs/surrogates.md``):

* ``joint``: one ``HistGradientBoostingRegressor`` per target with log fidelity as an input;
* ``per-level``: one per target and recorded fidelity level, without the fidelity input;
* ``gp``: one Gaussian process per target and level (scikit-learn's
  ``GaussianProcessRegressor``, Matérn-5/2 with one length scale per coordinate plus a white
  noise term, standardized targets, hyperparameters by maximum likelihood). On recordings
  of a few hundred configs it ranked held-out configs best on every recording measured
  (``docs/surrogates.md``): HPO surfaces are smooth, and trees cut them into steps.

For the per-level kinds, between two recorded levels the two neighbours' predictions are
interpolated linearly in log fidelity.

A fitted ``HistGradientBoostingRegressor`` costs ~7 ms of CPU to predict one row (input
checks and OpenMP start-up), too slow for a surrogate, so its trees are *compiled* into flat
numpy arrays (``Forest``) and evaluated by a vectorized walk of every tree of every target at
once (~0.1 ms for a row); a GP is kept as its training inputs, weights (``alpha``) and kernel
hyperparameters (``GP``), and its mean is one kernel row per target. The arrays are what
ships (``model.npz`` beside ``model.json``): loading needs neither pickle nor scikit-learn,
and the values do not depend on the installed scikit-learn version (which is still recorded
in the metadata, with the recording's digest, for provenance). A fresh fit is compiled the
same way, so a loaded model gives exactly the values of the fitted one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.cube import UnitCube
from hpbench.space import Space

#: feature value of an inactive conditional coordinate (outside [0, 1])
INACTIVE = -1.0
KINDS = ("joint", "per-level", "gp")
TARGETS = ("value", "test_value", "variance", "log_seconds")

#: the boosting settings: more, smaller steps and smaller leaves than scikit-learn's default
#: suit recordings of a few hundred configs (measured in ``validate``); no early stopping, so
#: no random validation split and the same fit every time
HGB_SETTINGS: dict[str, Any] = {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 15,
                                "min_samples_leaf": 4, "l2_regularization": 1e-3,
                                "early_stopping": False}


# -- features --------------------------------------------------------------------------------

def features(cube: UnitCube, U: np.ndarray) -> np.ndarray:
    """Model features of unit-cube rows ``U`` (canonicalized; inactive at ``INACTIVE``)."""
    U = cube.canonical(U)
    if cube.conditions:
        U[~cube.active(U)] = INACTIVE
    return U


def config_features(space: Space, cube: UnitCube, configs: Sequence[Mapping[str, Any]]
                    ) -> np.ndarray:
    return features(cube, space.to_unit_array(list(configs)))


# -- the compiled trees ----------------------------------------------------------------------

@dataclass(frozen=True)
class Forest:
    """Every tree of several boosted models in flat arrays, walked all at once.

    A leaf is its own left and right child, so a walk of ``depth`` steps ends in a leaf for
    every tree whatever its own depth. ``starts[k]`` is the first tree of output ``k``;
    output ``k`` = ``baseline[k]`` + the sum of its trees' leaf values.
    """

    feature: np.ndarray    # int64 per node
    threshold: np.ndarray  # float64 per node: go left when x <= threshold
    children: np.ndarray   # int64 (2, nodes): right, left
    value: np.ndarray      # float64 per node (leaves)
    roots: np.ndarray      # int64 per tree
    starts: np.ndarray     # int64 per output
    baseline: np.ndarray   # float64 per output
    depth: int

    @classmethod
    def compile(cls, estimators: Sequence[Any]) -> Forest:
        """From fitted ``HistGradientBoostingRegressor``s (one output each)."""
        feats, thrs, lefts, rights, vals, roots, starts, base = [], [], [], [], [], [], [], []
        offset, n_trees, depth = 0, 0, 0
        for est in estimators:
            starts.append(n_trees)
            base.append(float(np.ravel(est._baseline_prediction)[0]))
            for (predictor,) in est._predictors:
                nodes = predictor.nodes
                # the features are never NaN and never declared categorical, so every
                # split is "x <= threshold"
                if nodes["is_categorical"].any():
                    raise ValueError("compiled forests support numerical splits only")
                n = len(nodes)
                idx = np.arange(offset, offset + n)
                leaf = nodes["is_leaf"].astype(bool)
                feats.append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64))
                thrs.append(np.where(leaf, 0.0, nodes["num_threshold"]))
                lefts.append(np.where(leaf, idx, nodes["left"].astype(np.int64) + offset))
                rights.append(np.where(leaf, idx, nodes["right"].astype(np.int64) + offset))
                vals.append(np.where(leaf, nodes["value"], 0.0))
                roots.append(offset)
                depth = max(depth, int(nodes["depth"].max()))
                offset += n
                n_trees += 1
        return cls(feature=np.concatenate(feats), threshold=np.concatenate(thrs),
                   children=np.stack([np.concatenate(rights), np.concatenate(lefts)]),
                   value=np.concatenate(vals), roots=np.asarray(roots, dtype=np.int64),
                   starts=np.asarray(starts, dtype=np.int64),
                   baseline=np.asarray(base, dtype=float), depth=depth)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(m, outputs) predictions for feature rows ``X`` (m, d)."""
        X = np.asarray(X, dtype=float)
        m = len(X)
        rows = np.arange(m)[:, None]
        idx = np.broadcast_to(self.roots, (m, len(self.roots)))
        right, left = self.children
        for _ in range(self.depth):
            go_left = X[rows, self.feature[idx]] <= self.threshold[idx]
            idx = np.where(go_left, left[idx], right[idx])
        leaves = self.value[idx]
        # each output's trees summed in order, row by row: a row's value never depends on
        # the other rows of the batch
        return np.add.reduceat(leaves, self.starts, axis=1) + self.baseline

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}feature": self.feature.astype(np.int32),
                f"{prefix}threshold": self.threshold, f"{prefix}children":
                self.children.astype(np.int32), f"{prefix}value": self.value,
                f"{prefix}roots": self.roots.astype(np.int32), f"{prefix}starts": self.starts,
                f"{prefix}baseline": self.baseline,
                f"{prefix}depth": np.asarray(self.depth)}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str) -> Forest:
        return cls(feature=a[f"{prefix}feature"].astype(np.int64),
                   threshold=a[f"{prefix}threshold"].astype(float),
                   children=a[f"{prefix}children"].astype(np.int64),
                   value=a[f"{prefix}value"].astype(float),
                   roots=a[f"{prefix}roots"].astype(np.int64),
                   starts=a[f"{prefix}starts"].astype(np.int64),
                   baseline=a[f"{prefix}baseline"].astype(float),
                   depth=int(a[f"{prefix}depth"]))


@dataclass(frozen=True)
class GP:
    """Gaussian-process means of several outputs at one level, as arrays: output ``k`` at x
    is ``mean[k] + scale[k] * sum_i K_k(x, X_k[i]) alpha_k[i]``, ``K_k`` a Matérn-5/2 ARD
    kernel (amplitude ``amp[k]``, length scales ``ls[k]``). Rows are reduced one by one
    (no matrix product), so a row's value never depends on the batch around it."""

    X: tuple[np.ndarray, ...]
    alpha: tuple[np.ndarray, ...]
    ls: tuple[np.ndarray, ...]
    amp: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, ys: Sequence[np.ndarray], seed: int) -> GP:
        import warnings

        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        Xs, alphas, lss, amps, means, scales = [], [], [], [], [], []
        for y in ys:
            keep = np.isfinite(y)
            if keep.sum() < 2:  # nothing to learn (no test values recorded): a constant
                c = float(y[keep][0]) if keep.any() else 0.0
                Xs.append(X[:1])
                alphas.append(np.zeros(1))
                lss.append(np.ones(X.shape[1]))
                amps.append(0.0)
                means.append(c)
                scales.append(1.0)
                continue
            Xk, yk = X[keep], y[keep]
            mu, sd = float(yk.mean()), float(yk.std()) or 1.0
            d = X.shape[1]
            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
                np.full(d, 0.5), (1e-2, 1e2), nu=2.5) + WhiteKernel(1e-2, (1e-6, 1e1))
            with warnings.catch_warnings():  # bounds reached are fine: the fit is measured
                warnings.simplefilter("ignore")
                gp = GaussianProcessRegressor(kernel, random_state=seed).fit(Xk, (yk - mu) / sd)
            k = gp.kernel_.k1
            Xs.append(np.array(Xk, dtype=float))
            alphas.append(np.asarray(gp.alpha_, dtype=float).ravel())
            lss.append(np.atleast_1d(np.asarray(k.k2.length_scale, dtype=float)) *
                       np.ones(d))
            amps.append(float(k.k1.constant_value))
            means.append(mu)
            scales.append(sd)
        return cls(tuple(Xs), tuple(alphas), tuple(lss), np.array(amps), np.array(means),
                   np.array(scales))

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        out = np.empty((len(X), len(self.alpha)))
        for k, (Xk, alpha, ls) in enumerate(zip(self.X, self.alpha, self.ls)):
            r = np.sqrt((((X[:, None, :] - Xk[None, :, :]) / ls) ** 2).sum(axis=2))
            K = self.amp[k] * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * np.exp(-SQRT5 * r)
            out[:, k] = self.mean[k] + self.scale[k] * (K * alpha).sum(axis=1)
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        a = {f"{prefix}amp": self.amp, f"{prefix}mean": self.mean,
             f"{prefix}scale": self.scale}
        for k in range(len(self.alpha)):
            a.update({f"{prefix}X{k}": self.X[k], f"{prefix}alpha{k}": self.alpha[k],
                      f"{prefix}ls{k}": self.ls[k]})
        return a

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], prefix: str) -> GP:
        n = len(a[f"{prefix}amp"])
        return cls(tuple(a[f"{prefix}X{k}"] for k in range(n)),
                   tuple(a[f"{prefix}alpha{k}"] for k in range(n)),
                   tuple(a[f"{prefix}ls{k}"] for k in range(n)), a[f"{prefix}amp"],
                   a[f"{prefix}mean"], a[f"{prefix}scale"])


SQRT5 = math.sqrt(5.0)


# -- the training table ----------------------------------------------------------------------

@dataclass
class Table:
    """A recording reduced to one row per (config, fidelity level): features and targets."""

    config_id: np.ndarray  # int64 (n,)
    level: np.ndarray      # float64 (n,)
    X: np.ndarray          # (n, d) unit-cube features, without fidelity
    y: dict[str, np.ndarray]  # target -> (n,), NaN where unknown
    levels: np.ndarray     # the recorded fidelity levels, sorted
    cost: np.ndarray       # the median recorded cost of each level
    n_seeds: int
    configs: dict[int, dict] = field(default_factory=dict)
    #: the shift of the log transform of each mean target (``log_target``)
    shift: dict[str, float] = field(default_factory=dict)


#: mean targets fitted on a log scale (see ``log_target``): none. The log scale ranks held-out
#: configs better (Spearman 0.94 → 0.97 on sklearn-svc-breast_cancer-error, 0.57 → 0.74 on
#: torch-mlp-digits) but it stretches the differences among the best configs, which the GP
#: then smooths away: on the svc surrogate every optimizer reached a regret near 0 and
#: Kendall's tau of the optimizer ranking fell from 0.79 to 0.00. Ranking is the point.
LOGGED: tuple[str, ...] = ()


def log_target(y: np.ndarray) -> tuple[np.ndarray, float]:
    """(log(y − shift), shift), shift a little below the smallest y (by 1 % of the IQR).

    Kept for measurement (``LOGGED`` says why it is off): predictions map back through
    ``exp(·) + shift``."""
    finite = y[np.isfinite(y)]
    if len(finite) == 0:
        return y, 0.0
    q1, q3 = np.percentile(finite, [25, 75])
    span = (q3 - q1) or float(np.ptp(finite)) or 1.0
    shift = float(finite.min() - 0.01 * span)
    return np.log(y - shift), shift


def table(frame: Any, space: Space) -> Table:
    """Reduce a recording (a pandas frame in the recording format) to a ``Table``.

    Failed evaluations are left out of every mean; a (config, level) whose seeds all failed
    is left out of the table (the surrogate then predicts it from its neighbours)."""
    import pandas as pd

    cube = UnitCube(space)
    ok = frame[frame["status"] == "ok"].copy()
    ok = ok[np.isfinite(ok["value"].to_numpy(dtype=float))]
    # each seed's shift shared by every config (per level), removed before the variance
    centred = ok["value"] - ok.groupby(["config_id", "fidelity"])["value"].transform("mean")
    ok["interaction"] = centred - centred.groupby([ok["seed"], ok["fidelity"]]).transform(
        "median")
    g = ok.groupby(["config_id", "fidelity"], sort=True)
    agg = pd.DataFrame({
        "value": g["value"].mean(),
        "test_value": g["test_value"].mean(),
        "variance": g["interaction"].var(ddof=1).fillna(0.0),
        "log_seconds": np.log(np.maximum(g["seconds"].mean(), 1e-9)),
    }).reset_index()
    first = frame.drop_duplicates("config_id").set_index("config_id")["config"]
    configs = {int(k): json.loads(v) for k, v in first.items()}
    ids = agg["config_id"].to_numpy(dtype=np.int64)
    unique = np.unique(ids)
    Xu = config_features(space, cube, [configs[int(i)] for i in unique])
    X = Xu[np.searchsorted(unique, ids)]
    levels = np.sort(frame["fidelity"].unique().astype(float))
    cost = np.array([float(frame.loc[frame["fidelity"] == f, "cost"].median())
                     for f in levels])
    y = {t: agg[t].to_numpy(dtype=float) for t in TARGETS}
    shift = {}
    for t in LOGGED:
        y[t], shift[t] = log_target(y[t])
    return Table(config_id=ids, level=agg["fidelity"].to_numpy(dtype=float), X=X, y=y,
                 levels=levels, cost=cost, n_seeds=int(frame["seed"].nunique()), shift=shift,
                 configs=configs)


def _fit_one(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    keep = np.isfinite(y)
    if keep.sum() < 2:  # nothing to learn (no test values recorded): a constant
        c = float(y[keep][0]) if keep.any() else 0.0
        X, y, keep = np.vstack([X[:1], X[:1]]), np.array([c, c]), np.array([True, True])
    return HistGradientBoostingRegressor(random_state=seed, **HGB_SETTINGS).fit(X[keep],
                                                                                y[keep])


def fit_forests(tab: Table, kind: str, rows: np.ndarray | None = None, seed: int = 0
                ) -> dict[str, Forest | GP]:
    """Fit the model of ``kind`` on the table's ``rows`` (all by default): one forest (joint,
    key "joint"), or one forest or GP per level (key: the level's repr)."""
    if kind not in KINDS:
        raise ValueError(f"surrogate model kind must be one of {list(KINDS)}, got {kind!r}")
    from threadpoolctl import threadpool_limits

    # one OpenMP thread: on a loaded machine scikit-learn's threads spin and a 0.3 s fit
    # takes 10 s of CPU
    with threadpool_limits(limits=1):
        return _fit_forests(tab, kind, np.arange(len(tab.level)) if rows is None else rows,
                            seed)


def _fit_forests(tab: Table, kind: str, rows: np.ndarray, seed: int
                 ) -> dict[str, Forest | GP]:
    if kind == "joint":
        X = np.column_stack([tab.X[rows], np.log(tab.level[rows])])
        return {"joint": Forest.compile([_fit_one(X, tab.y[t][rows], seed) for t in TARGETS])}
    out: dict[str, Forest | GP] = {}
    for f in tab.levels:
        r = rows[tab.level[rows] == f]
        out[repr(float(f))] = GP.fit(tab.X[r], [tab.y[t][r] for t in TARGETS], seed) \
            if kind == "gp" else Forest.compile([_fit_one(tab.X[r], tab.y[t][r], seed)
                                                 for t in TARGETS])
    return out


# -- the fitted surrogate --------------------------------------------------------------------

@dataclass
class SurrogateModel:
    """A fitted surrogate of one live problem: the compiled forests and what the problem
    needs to answer like the live one (space, fidelity, tags, capabilities, cost per level)."""

    meta: dict[str, Any]
    forests: dict[str, Forest | GP]

    def __post_init__(self) -> None:
        self.space = Space.from_json(self.meta["space"])
        self.cube = UnitCube(self.space)
        self.kind = self.meta["kind"]
        self.levels = np.asarray(self.meta["levels"], dtype=float)
        self.log_levels = np.log(self.levels)
        self.level_cost = np.asarray(self.meta["level_cost"], dtype=float)
        self.has_test = bool(self.meta["has_test"])
        self.shift = {t: float(v) for t, v in self.meta["shift"].items()}
        #: the lowest value the live problem can return (0 when every recorded value is ≥ 0:
        #: a loss or an error rate), None when unbounded (``value_floor``)
        floor = self.meta.get("value_floor")
        self.value_floor = None if floor is None else float(floor)
        if self.kind != "joint":
            self._level_forests = [self.forests[repr(float(f))] for f in self.levels]

    @property
    def problem(self) -> str:
        return self.meta["problem"]

    def predict_features(self, F: np.ndarray, fidelity: np.ndarray) -> np.ndarray:
        """(m, 4) predictions (``TARGETS``) at unit-cube features ``F`` and fidelities."""
        fidelity = np.asarray(fidelity, dtype=float)
        logf = np.log(fidelity)
        if self.kind == "joint":
            return self._unlog(self.forests["joint"].predict(np.column_stack([F, logf])))
        # per level: the two recorded neighbours, interpolated in log fidelity
        hi = np.clip(np.searchsorted(self.levels, fidelity, side="left"), 0,
                     len(self.levels) - 1)
        lo = np.where(self.levels[hi] == fidelity, hi, np.maximum(hi - 1, 0))
        out = np.empty((len(F), len(TARGETS)))
        for a, b in set(zip(lo.tolist(), hi.tolist())):
            sel = (lo == a) & (hi == b)
            pa = self._level_forests[a].predict(F[sel])
            if a == b:
                out[sel] = pa
                continue
            pb = self._level_forests[b].predict(F[sel])
            w = ((logf[sel] - self.log_levels[a]) /
                 (self.log_levels[b] - self.log_levels[a]))[:, None]
            out[sel] = pa + w * (pb - pa)
        return self._unlog(out)

    def _unlog(self, P: np.ndarray) -> np.ndarray:
        for k, t in enumerate(TARGETS):
            if t in self.shift:
                P[:, k] = np.exp(P[:, k]) + self.shift[t]
        return P

    def predict(self, configs: Sequence[Mapping[str, Any]], fidelity: Sequence[float]
                ) -> np.ndarray:
        return self.predict_features(config_features(self.space, self.cube, configs),
                                     np.asarray(fidelity, dtype=float))

    def cost(self, fidelity: float) -> float:
        """The live problem's cost of an evaluation from scratch at ``fidelity`` (the
        recorded cost per level, interpolated linearly between levels)."""
        return float(np.interp(fidelity, self.levels, self.level_cost))

    # -- files -------------------------------------------------------------------------------
    def digest(self) -> str:
        """A short hash of the model's arrays and metadata (the surrogate's fingerprint)."""
        h = hashlib.blake2b(digest_size=8)
        meta = {k: v for k, v in self.meta.items() if k != "digest"}
        h.update(json.dumps(meta, sort_keys=True, default=str).encode())
        for key in sorted(self.forests):
            for name, arr in sorted(self.forests[key].arrays("").items()):
                h.update(name.encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write ``model.npz`` (the compiled forests) and ``model.json`` (the metadata)."""
        from hpbench.store import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for key, forest in self.forests.items():
            arrays.update(forest.arrays(f"{key}/"))
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        npz, meta = folder / "model.npz", folder / "model.json"
        self.meta["digest"] = self.digest()  # what the ranking table was measured on
        atomic_write(npz, buf.getvalue())
        atomic_write(meta, (json.dumps(self.meta, indent=1, sort_keys=True) + "\n").encode())
        return npz, meta

    @classmethod
    def load(cls, folder: Path) -> SurrogateModel:
        folder = Path(folder)
        meta = json.loads((folder / "model.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{folder / 'model.json'}: model format {meta.get('format')!r}, "
                             f"this hpbench reads format {FORMAT}; refit it with `python -m "
                             f"hpbench.problems.surrogate.fit {meta.get('problem', 'PROBLEM')}`")
        with np.load(folder / "model.npz") as a:
            arrays = {k: a[k] for k in a.files}
        keys = ["joint"] if meta["kind"] == "joint" else [repr(float(f)) for f in meta["levels"]]
        kind = GP if meta["kind"] == "gp" else Forest
        return cls(meta, {k: kind.from_arrays(arrays, f"{k}/") for k in keys})


#: the model file format this module reads and writes
FORMAT = 2  # 2: log-scale mean targets (meta["shift"])


def value_floor(frame: Any) -> float | None:
    """0.0 when every recorded ``value`` (and ``test_value``) is ≥ 0 — a loss, an error rate,
    whose surrogate must not answer below 0 — else None (no floor)."""
    values = np.concatenate([np.asarray(frame[c], dtype=float) for c in ("value", "test_value")
                             if c in frame])
    values = values[np.isfinite(values)]
    return 0.0 if len(values) and values.min() >= 0 else None


def fit(frame: Any, recording_meta: Mapping[str, Any], *, space: Space, fidelity: Any,
        tags: Sequence[str], capabilities: Sequence[str], kind: str, seed: int = 0,
        extra: Mapping[str, Any] | None = None) -> SurrogateModel:
    """Fit the surrogate of the live problem whose recording is ``frame`` (see ``table``)."""
    import sklearn

    tab = table(frame, space)
    forests = fit_forests(tab, kind, seed=seed)
    has_test = bool(np.isfinite(tab.y["test_value"]).any())
    meta = {
        "format": FORMAT,
        "problem": recording_meta["problem"],
        "kind": kind,
        "space": space.to_json(),
        "fidelity": {"low": fidelity.low, "high": fidelity.high, "name": fidelity.name,
                     "integer": fidelity.integer},
        "tags": list(tags),
        "capabilities": sorted(capabilities),
        "levels": [float(f) for f in tab.levels],
        "level_cost": [float(c) for c in tab.cost],
        "has_test": has_test,
        "shift": tab.shift,
        "value_floor": value_floor(frame),
        "n_configs": len(np.unique(tab.config_id)),
        "n_seeds": tab.n_seeds,
        "hgb_settings": HGB_SETTINGS,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "seed": seed,
        "recording": {k: recording_meta.get(k) for k in
                      ("fingerprint", "code_version", "sobol_seed", "n", "seeds")
                      if k in recording_meta},
        **dict(extra or {}),
    }
    return SurrogateModel(meta, forests)
