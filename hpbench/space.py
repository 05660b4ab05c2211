"""Search spaces: validated parameter types and their mapping to the unit cube.

Every parameter occupies exactly one coordinate of ``[0, 1]^d``:

* ``Float`` maps linearly (or linearly in log space with ``log=True``);
* ``Int`` splits ``[0, 1]`` into ``high - low + 1`` equal bins (bins of equal width in log space
  with ``log=True``), so a uniform draw is uniform over the integers;
* ``Categorical`` splits ``[0, 1]`` into ``len(choices)`` equal bins.

``to_unit`` puts discrete values at the centre of their bin, so ``from_unit(to_unit(c)) == c``
and optimizers that move in the cube can tell which coordinates are discrete (``Space.dims``)
and treat them as such instead of rounding and hoping.

A parameter may carry a ``condition``: it is active only when its parent (an earlier
parameter) is active and takes one of the listed values. Inactive parameters are absent
from a config; in the cube their coordinate is ignored (``to_unit`` puts it at 0.5).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Categorical",
    "Condition",
    "Dim",
    "Float",
    "Int",
    "InvalidConfig",
    "Param",
    "Space",
    "ValidConfig",
]


#: where a grid puts its ``k`` values of a parameter (``Param.grid_values``)
GRID_PLACEMENTS = ("centred", "bounds")


class InvalidConfig(ValueError):
    """A config that does not belong to its space (unknown, missing or out-of-range value)."""


@dataclass(frozen=True)
class Condition:
    """Active only when ``parent`` is active and its value is one of ``values``."""

    parent: str
    values: tuple

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, str | int | float | bool) or values is None:
            values = (values,)
        object.__setattr__(self, "values", tuple(values))
        if not self.values:
            raise ValueError(f"condition on {self.parent!r} must list at least one value")


def _as_condition(condition: Condition | tuple | None) -> Condition | None:
    if condition is None or isinstance(condition, Condition):
        return condition
    if isinstance(condition, Sequence) and len(condition) == 2:
        return Condition(condition[0], condition[1])
    raise ValueError(f"condition must be Condition(parent, values) or (parent, values), "
                     f"got {condition!r}")


class Param:
    """Base of the parameter types. Subclasses are immutable and validate themselves."""

    kind: str = ""
    condition: Condition | None

    def _freeze(self, **fields: Any) -> None:
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __setstate__(self, state: Any) -> None:
        # pickle and copy.deepcopy restore attributes through setattr, which is refused
        if isinstance(state, tuple):  # (__dict__, slots) of a class with __slots__
            state = {**(state[0] or {}), **(state[1] or {})}
        self._freeze(**state)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash(json.dumps(self.describe(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "type")
        return f"{type(self).__name__}({args})"

    # subclasses implement these four
    def describe(self) -> dict:
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def from_unit_column(self, u: np.ndarray) -> list:
        """``[self.from_unit(x) for x in u]`` for a 1-d float array (subclasses vectorize)."""
        from_unit = self.from_unit
        return [from_unit(x) for x in u.tolist()]

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` normalized to a plain Python type, or raise ``InvalidConfig``."""
        raise NotImplementedError

    @property
    def n_levels(self) -> int | None:
        """Number of distinct values (None for a continuous parameter)."""
        return None

    def grid_values(self, k: int, placement: str = "bounds") -> list:
        """``k`` values spread evenly over the parameter (all levels if it has fewer).

        ``placement`` says where, in the unit cube: ``"bounds"`` at ``j / (k - 1)``, both
        ends included (``np.linspace`` between the bounds, ``np.logspace`` for log scales);
        ``"centred"`` at the centres ``(j + 1/2) / k`` of ``k`` equal cells (in log space for
        log scales; for integers and categories the levels whose bins hold those centres).
        One value (``k = 1``) is the middle either way.
        """
        if placement not in GRID_PLACEMENTS:
            raise ValueError(f"grid placement must be one of {GRID_PLACEMENTS}, "
                             f"got {placement!r}")
        n = self.n_levels
        if n is not None and n <= k:
            return [self.from_unit((j + 0.5) / n) for j in range(n)]
        if placement == "centred":
            us = [(j + 0.5) / k for j in range(k)]
        else:
            us = [0.5] if k == 1 else [j / (k - 1) for j in range(k)]
        values = []
        for u in us:
            v = self.from_unit(u)
            if v not in values:
                values.append(v)
        return values


def _check_bounds(cls: str, low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{cls}: low and high must be finite, got low={low}, high={high}")
    if not low < high:
        raise ValueError(f"{cls}: low must be < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"{cls}: log=True needs low > 0, got low={low}")


class Float(Param):
    """A real number in ``[low, high]``, sampled uniformly or log-uniformly (``log=True``)."""

    kind = "float"
    __slots__ = ("_a", "_b", "condition", "high", "log", "low")

    def __init__(self, low: float, high: float, log: bool = False,
                 condition: Condition | tuple | None = None) -> None:
        low, high = float(low), float(high)
        _check_bounds("Float", low, high, log)
        a, b = (math.log(low), math.log(high)) if log else (low, high)
        self._freeze(low=low, high=high, log=bool(log), condition=_as_condition(condition),
                     _a=a, _b=b)

    def describe(self) -> dict:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "condition": _describe_condition(self.condition)}

    def to_unit(self, value: float) -> float:
        x = math.log(value) if self.log else value
        return min(1.0, max(0.0, (x - self._a) / (self._b - self._a)))

    def from_unit(self, u: float) -> float:
        u = float(u)
        if u <= 0.0:
            return self.low
        if u >= 1.0:
            return self.high
        x = self._a + u * (self._b - self._a)
        x = math.exp(x) if self.log else x
        # exp/log round-off must never leave the declared bounds
        return min(self.high, max(self.low, x))

    def from_unit_column(self, u: np.ndarray) -> list[float]:
        if self.log:  # numpy's exp may differ from math.exp in the last bit
            return Param.from_unit_column(self, u)
        # the scalar path's operations in the same order, so bit-for-bit its values: the
        # where()s are Python's max(low, x) and min(high, x), NaN and signed zeros included
        x = self._a + u * (self._b - self._a)
        x = np.where(x > self.low, x, self.low)
        x = np.where(x < self.high, x, self.high)
        x = np.where(u <= 0.0, self.low, np.where(u >= 1.0, self.high, x))
        return x.tolist()

    def check(self, name: str, value: Any) -> float:
        if type(value) is float and self.low <= value <= self.high:  # the common case, fast
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise InvalidConfig(f"{name} must be a number in [{self.low}, {self.high}], "
                                f"got {value!r}")
        v = float(value)
        if not (self.low <= v <= self.high):
            raise InvalidConfig(f"{name} must be in [{self.low}, {self.high}], got {v}")
        return v


class Int(Param):
    """An integer in ``[low, high]`` (inclusive), uniform or log-uniform (``log=True``)."""

    kind = "int"
    __slots__ = ("_a", "_b", "condition", "high", "log", "low")

    def __init__(self, low: int, high: int, log: bool = False,
                 condition: Condition | tuple | None = None) -> None:
        if int(low) != low or int(high) != high:
            raise ValueError(f"Int: low and high must be integers, got low={low}, high={high}")
        low, high = int(low), int(high)
        _check_bounds("Int", low, high, log)
        # bins [v - 0.5, v + 0.5] in (log) space give every integer its share of the cube
        a, b = ((math.log(low - 0.5) if low > 0.5 else math.log(low)), math.log(high + 0.5)) \
            if log else (low - 0.5, high + 0.5)
        self._freeze(low=low, high=high, log=bool(log), condition=_as_condition(condition),
                     _a=a, _b=b)

    def describe(self) -> dict:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "condition": _describe_condition(self.condition)}

    @property
    def n_levels(self) -> int:
        return self.high - self.low + 1

    def _bounds(self, value: int) -> tuple[float, float]:
        lo, hi = value - 0.5, value + 0.5
        if self.log:
            return (math.log(lo) if lo > 0 else self._a), math.log(hi)
        return lo, hi

    def to_unit(self, value: int) -> float:
        lo, hi = self._bounds(int(value))
        lo, hi = max(lo, self._a), min(hi, self._b)
        return min(1.0, max(0.0, ((lo + hi) / 2 - self._a) / (self._b - self._a)))

    def from_unit(self, u: float) -> int:
        x = self._a + float(u) * (self._b - self._a)
        x = math.exp(x) if self.log else x
        return int(min(self.high, max(self.low, math.floor(x + 0.5))))

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise InvalidConfig(f"{name} must be an integer in [{self.low}, {self.high}], "
                                f"got {value!r}")
        if value != int(value):
            raise InvalidConfig(f"{name} must be an integer, got {value!r}")
        v = int(value)
        if not (self.low <= v <= self.high):
            raise InvalidConfig(f"{name} must be in [{self.low}, {self.high}], got {v}")
        return v


class Categorical(Param):
    """One of a finite list of hashable, JSON-serializable choices (unordered)."""

    kind = "cat"
    __slots__ = ("_index", "choices", "condition")

    def __init__(self, choices: Iterable, condition: Condition | tuple | None = None) -> None:
        choices = tuple(choices)
        if not choices:
            raise ValueError("Categorical: choices must not be empty, got ()")
        index = {}
        for i, c in enumerate(choices):
            if not (c is None or isinstance(c, str | int | float | bool)):
                raise ValueError(f"Categorical: choices must be str, int, float, bool or None, "
                                 f"got {c!r}")
            key = _cat_key(c)
            if key in index:
                raise ValueError(f"Categorical: duplicate choice {c!r} in {choices!r}")
            index[key] = i
        self._freeze(choices=choices, condition=_as_condition(condition), _index=index)

    def describe(self) -> dict:
        return {"type": "categorical", "choices": list(self.choices),
                "condition": _describe_condition(self.condition)}

    @property
    def n_levels(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        return self._index[_cat_key(value)]

    def to_unit(self, value: Any) -> float:
        return (self._index[_cat_key(value)] + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        k = len(self.choices)
        return self.choices[min(k - 1, max(0, int(float(u) * k)))]

    def check(self, name: str, value: Any) -> Any:
        try:
            return self.choices[self._index[_cat_key(value)]]
        except (KeyError, TypeError):
            raise InvalidConfig(f"{name} must be one of {list(self.choices)}, "
                                f"got {value!r}") from None


def _cat_key(value: Any) -> tuple:
    # 1 == True == 1.0 in Python; keep them distinct choices
    if isinstance(value, np.generic):
        value = value.item()
    return (type(value).__name__ if not isinstance(value, float) else "float", value)


def _expected(param: Param) -> str:
    """What a parameter accepts, for the message about a missing value."""
    if isinstance(param, Categorical):
        return f"one of {list(param.choices)}"
    kind = "an integer" if isinstance(param, Int) else "a number"
    return f"{kind} in [{param.low}, {param.high}]"


def _describe_condition(condition: Condition | None) -> list | None:
    return None if condition is None else [condition.parent, list(condition.values)]


class ValidConfig(dict):
    """A config as ``Space.validate`` returns it: checked, with plain Python values.
    Validating it again against the same space is free (``Problem.evaluate`` validates what
    the runner validated already), so it remembers that space. It pickles as a plain dict.
    """

    __slots__ = ("space",)

    def __reduce__(self):
        return (dict, (dict(self),))


@dataclass(frozen=True)
class Dim:
    """What an optimizer needs to know about one coordinate of the unit cube."""

    name: str
    kind: str  # "float", "int" or "cat"
    n_levels: int | None  # None for float
    log: bool
    conditional: bool


class Space(Mapping):
    """An ordered, immutable mapping of parameter names to parameters."""

    def __init__(self, params: Mapping[str, Param] | Iterable[tuple[str, Param]] | None = None,
                 **kwargs: Param) -> None:
        items: list[tuple[str, Param]] = []
        if params is not None:
            items.extend(params.items() if isinstance(params, Mapping) else params)
        items.extend(kwargs.items())
        seen: dict[str, Param] = {}
        for name, param in items:
            if not isinstance(name, str) or not name:
                raise ValueError(f"parameter names must be non-empty strings, got {name!r}")
            if name in seen:
                raise ValueError(f"duplicate parameter name {name!r}")
            if not isinstance(param, Param):
                raise ValueError(f"parameter {name!r} must be Float, Int or Categorical, "
                                 f"got {param!r}")
            cond = param.condition
            if cond is not None:
                if cond.parent not in seen:
                    known = list(seen)
                    raise ValueError(f"parameter {name!r} has a condition on unknown parent "
                                     f"{cond.parent!r} (parents must come earlier; "
                                     f"known: {known})")
                parent = seen[cond.parent]
                if isinstance(parent, Float):
                    raise ValueError(f"parameter {name!r}: condition parent {cond.parent!r} "
                                     f"must be Int or Categorical, got Float")
                for v in cond.values:
                    try:
                        parent.check(cond.parent, v)
                    except InvalidConfig as exc:
                        raise ValueError(f"parameter {name!r}: condition value {v!r} is not a "
                                         f"possible value of {cond.parent!r} ({exc})") from None
            seen[name] = param
        self._params = seen
        self._names = tuple(seen)
        self._list = tuple(seen.values())
        self._items = tuple(seen.items())
        self._conditional = any(p.condition is not None for p in self._list)
        self._cond_index = tuple(
            None if p.condition is None else
            (self._names.index(p.condition.parent),
             frozenset(_cat_key(v) for v in p.condition.values))
            for p in self._list
        )
        self.dims = tuple(Dim(n, p.kind, p.n_levels, getattr(p, "log", False),
                              p.condition is not None) for n, p in seen.items())
        #: every parameter an unconditional Float: ``validate`` returns Python floats, finite
        self.all_float = bool(self._list) and all(type(p) is Float and p.condition is None
                                                  for p in self._list)
        # validate's fast path: (name, low, high) when every parameter is an unconditional Float
        self._float_bounds = tuple((n, p.low, p.high) for n, p in self._items) \
            if self.all_float else None

    # Mapping protocol
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in self._params.items())
        return f"Space({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash(json.dumps(self.describe(), sort_keys=True, default=str))

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    @property
    def is_conditional(self) -> bool:
        return self._conditional

    def describe(self) -> dict:
        """A JSON-serializable description (used in metadata and fingerprints)."""
        return {n: p.describe() for n, p in self._params.items()}

    def to_json(self) -> list[dict]:
        """The space as a JSON list of parameters in order, each ``describe()`` plus its
        ``name`` (a list, not an object: parents come before their children in any
        language's JSON reader). ``Space.from_json`` reads it back; the external-optimizer
        protocol (docs/external-optimizers.md) sends it."""
        return [{"name": n, **p.describe()} for n, p in self._params.items()]

    @classmethod
    def from_json(cls, params: Sequence[Mapping[str, Any]] | Mapping[str, Mapping]) -> Space:
        """The space ``to_json`` (a list) or ``describe`` (an object by name) wrote."""
        if isinstance(params, Mapping):
            params = [{"name": n, **d} for n, d in params.items()]
        built = []
        for d in params:
            kind, cond = d.get("type"), d.get("condition")
            cond = None if cond is None else Condition(cond[0], tuple(cond[1]))
            if kind == "float":
                param: Param = Float(d["low"], d["high"], log=d.get("log", False),
                                     condition=cond)
            elif kind == "int":
                param = Int(d["low"], d["high"], log=d.get("log", False), condition=cond)
            elif kind == "categorical":
                param = Categorical(d["choices"], condition=cond)
            else:
                raise ValueError(f"parameter {d.get('name')!r}: type must be one of float, "
                                 f"int, categorical, got {kind!r}")
            built.append((d["name"], param))
        return cls(built)

    # activity
    def _active_mask(self, values: Sequence) -> list[bool]:
        active = [True] * len(self._list)
        for i, ci in enumerate(self._cond_index):
            if ci is not None:
                j, allowed = ci
                active[i] = active[j] and _cat_key(values[j]) in allowed
        return active

    def active(self, config: Mapping[str, Any]) -> list[str]:
        """Names of the parameters that are active under ``config``'s parent values."""
        values = [config.get(n) for n in self._names]
        return [n for n, a in zip(self._names, self._active_mask(values)) if a]

    # unit cube
    def from_unit(self, u: Sequence[float]) -> dict[str, Any]:
        """Map a point of ``[0, 1]^d`` to a config (inactive parameters left out)."""
        if len(u) != len(self._list):
            raise ValueError(f"expected a point with {len(self._list)} coordinates, got {len(u)}")
        values = [p.from_unit(x) for p, x in zip(self._list, u)]
        if not self._conditional:
            return dict(zip(self._names, values))
        mask = self._active_mask(values)
        return {n: v for n, v, a in zip(self._names, values, mask) if a}

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a config to ``[0, 1]^d``; inactive coordinates are 0.5."""
        out = np.full(len(self._list), 0.5)
        for i, (n, p) in enumerate(zip(self._names, self._list)):
            v = config.get(n)
            if v is not None:
                out[i] = p.to_unit(v)
        return out

    def from_unit_array(self, U: np.ndarray) -> list[dict[str, Any]]:
        """``[self.from_unit(row) for row in U]``, column by column where it can."""
        U = np.asarray(U, dtype=float)
        if self._conditional or not self._list or U.ndim != 2 or U.shape[1] != len(self._list):
            # rows as Python floats: the same values, without a numpy scalar per coordinate
            return [self.from_unit(row) for row in U.tolist()]
        columns = [p.from_unit_column(U[:, j]) for j, p in enumerate(self._list)]
        names = self._names
        return [dict(zip(names, row)) for row in zip(*columns)]

    def to_unit_array(self, configs: Iterable[Mapping[str, Any]]) -> np.ndarray:
        rows = [self.to_unit(c) for c in configs]
        return np.array(rows).reshape(len(rows), len(self._list))

    # sampling and validation
    def sample(self, rng: np.random.Generator, n: int | None = None):
        """One config (``n=None``) or a list of ``n`` configs, uniform in the unit cube."""
        if n is None:
            return self.from_unit(rng.random(len(self._list)))
        return self.from_unit_array(rng.random((n, len(self._list))))

    def validate(self, config: Mapping[str, Any]) -> ValidConfig:
        """Return ``config`` with plain Python values (a ``ValidConfig``: validating it again
        costs nothing), or raise ``InvalidConfig``.

        Rules: every active parameter present and in range; no unknown names; an inactive
        parameter is absent or None.
        """
        if type(config) is ValidConfig and config.space is self:
            return config  # validated already, by this space
        bounds = self._float_bounds
        if bounds is not None and type(config) is dict and len(config) == len(bounds):
            # all Floats (synthetic problems, where the engine's own cost matters most): no call
            # per parameter; a copy in the space's order, else the general path below
            for n, lo, hi in bounds:
                v = config.get(n)
                if type(v) is not float or not lo <= v <= hi:
                    break
            else:
                if tuple(config) == self._names:
                    valid = ValidConfig(config)  # (_valid inlined: the hot path)
                    valid.space = self
                    return valid
        if not isinstance(config, Mapping):
            raise InvalidConfig(f"a config must be a mapping of parameter names to values, "
                                f"got {type(config).__name__}")
        if not self._conditional:
            try:
                out = {name: param.check(name, config[name]) for name, param in self._items}
            except KeyError as exc:
                name = exc.args[0]
                raise InvalidConfig(f"{name} is missing: {_expected(self._params[name])} "
                                    f"(parameters: {list(self._names)})") from None
            if len(config) > len(out):
                unknown = [k for k in config if k not in self._params]
                raise InvalidConfig(f"unknown parameter(s) {unknown}; allowed: "
                                    f"{list(self._names)}")
            return self._valid(out)
        out = {}
        values: list[Any] = []
        for i, (name, param) in enumerate(zip(self._names, self._list)):
            ci = self._cond_index[i]
            is_active = True
            if ci is not None:
                j, allowed = ci
                parent = self._names[j]
                is_active = parent in out and _cat_key(out[parent]) in allowed
            value = config.get(name)
            if not is_active:
                if value is not None:
                    raise InvalidConfig(f"{name} is inactive here (needs {param.condition.parent}"
                                        f" in {list(param.condition.values)}), got {value!r}")
                values.append(None)
                continue
            if value is None:
                raise InvalidConfig(f"{name} is missing: {_expected(param)} (active "
                                    f"parameters: {self.active(config)})")
            out[name] = param.check(name, value)
            values.append(out[name])
        if len(config) > len(out):
            unknown = [k for k in config if k not in self._params]
            if unknown:
                raise InvalidConfig(f"unknown parameter(s) {unknown}; allowed: {list(self._names)}")
        return self._valid(out)

    def _valid(self, config: dict[str, Any]) -> ValidConfig:
        valid = ValidConfig(config)
        valid.space = self
        return valid

    def contains(self, config: Mapping[str, Any]) -> bool:
        try:
            self.validate(config)
        except InvalidConfig:
            return False
        return True

    # grids
    def grid_levels(self, size: int, fits: Callable[[list[int]], bool]) -> list[int]:
        """Level counts per parameter for a grid of at most ``size`` points: starting from
        one level each, levels are added one parameter at a time, in order, while ``fits``
        accepts the counts (discrete parameters are capped at their number of levels)."""
        if size < 1:
            raise ValueError(f"grid size must be >= 1, got {size}")
        caps = [p.n_levels if p.n_levels is not None else size for p in self._list]
        levels = [1] * len(self._list)
        grew = True
        while grew:
            grew = False
            for i in range(len(levels)):
                if levels[i] < caps[i]:
                    trial = levels.copy()
                    trial[i] += 1
                    if fits(trial):
                        levels = trial
                        grew = True
        return levels

    def grid(self, size: int, placement: str = "bounds") -> list[dict[str, Any]]:
        """At most ``size`` distinct configs on a regular grid, as even as the levels allow.

        Discrete parameters contribute up to all of their levels, continuous ones ``k`` evenly
        spaced values, including both bounds (``placement="bounds"``) or at the centres of
        ``k`` equal cells (``"centred"``; see ``Param.grid_values``); levels are added one
        parameter at a time, in order, while the product of level counts stays within
        ``size``.
        """
        levels = self.grid_levels(size, lambda lv: math.prod(lv) <= size)
        axes = [p.grid_values(k, placement) for p, k in zip(self._list, levels)]
        seen: set[str] = set()
        out = []
        for combo in itertools.product(*axes):
            values = list(combo)
            mask = self._active_mask(values)
            config = {n: v for n, v, a in zip(self._names, values, mask) if a}
            key = json.dumps(config, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append(config)
        return out
