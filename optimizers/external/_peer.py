"""The worker side of the external-optimizer protocol, shared by the peers' worker scripts.

It runs in a peer's own environment (``.peers/<name>/``), so it imports nothing from hpbench
and nothing but the standard library: ``serve`` is the message loop
(docs/external-optimizers.md), ``UnitSpace`` maps points of the unit cube to configs with
hpbench's own conventions (``hpbench/space.py``: log scales linear in the cube, integers and
categories in equal bins, inactive conditional parameters left out).
"""

import importlib.metadata
import json
import math
import os
import sys
import traceback

PROTOCOL = 1


class UnitSpace:
    """The space of the hello (a list of parameters), as coordinates of ``[0, 1]^d``."""

    def __init__(self, params):
        self.params = list(params)
        self.names = [p["name"] for p in self.params]

    def __len__(self):
        return len(self.params)

    def value(self, p, u):
        """The value of parameter ``p`` at coordinate ``u``."""
        u = min(1.0, max(0.0, float(u)))
        if p["type"] == "categorical":
            k = len(p["choices"])
            return p["choices"][min(k - 1, int(u * k))]
        lo, hi = p["low"], p["high"]
        if p["type"] == "float":
            if u <= 0.0 or u >= 1.0:  # the bounds themselves, not exp(log(bound))
                return float(lo if u <= 0.0 else hi)
            a, b = (math.log(lo), math.log(hi)) if p["log"] else (lo, hi)
            x = a + u * (b - a)
            return min(hi, max(lo, math.exp(x) if p["log"] else x))
        a, b = (math.log(lo - 0.5 if lo > 0.5 else lo), math.log(hi + 0.5)) if p["log"] \
            else (lo - 0.5, hi + 0.5)
        x = a + u * (b - a)
        x = math.exp(x) if p["log"] else x
        return int(min(hi, max(lo, math.floor(x + 0.5))))

    def config(self, values):
        """``values`` (one per parameter, in order) without the inactive parameters."""
        config = {}
        for p, v in zip(self.params, values):
            cond = p.get("condition")
            if cond is not None and (cond[0] not in config or config[cond[0]] not in cond[1]):
                continue
            config[p["name"]] = v
        return config

    def from_unit(self, point):
        return self.config([self.value(p, u) for p, u in zip(self.params, point)])


def version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def serve(make):
    """Answer the engine's messages until ``close`` or the end of input.

    ``make(hello)`` returns ``(optimizer, reply)``: an object with ``ask(n) -> list of
    suggestion objects`` and ``tell(observations)``, and the fields of the hello's answer
    (name, version, uses). Whatever a library prints goes to stderr: stdout carries the
    protocol only. An exception is answered as ``{"error": ...}``, its traceback on stderr.
    """
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # a library's print() would corrupt the protocol: send it to stderr
    sys.stdout = sys.stderr
    optimizer = None
    for line in sys.stdin:
        try:
            message = json.loads(line)
            op = message.get("op")
            if op == "hello":
                if message.get("protocol") != PROTOCOL:
                    raise ValueError(f"this worker speaks protocol {PROTOCOL}, got "
                                     f"{message.get('protocol')!r}")
                optimizer, fields = make(message)
                reply = {"protocol": PROTOCOL, **fields}
            elif op == "ask":
                reply = {"suggestions": optimizer.ask(int(message["n"]))}
            elif op == "tell":
                optimizer.tell(message["observations"])
                reply = {"ok": True}
            elif op == "close":
                out.write('{"ok":true}\n')
                out.flush()
                return
            else:
                raise ValueError(f"unknown op {op!r}; expected hello, ask, tell or close")
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()
