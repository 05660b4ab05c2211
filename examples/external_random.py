"""Random search as an external optimizer: the worked example of docs/external-optimizers.md.

A plain Python script with no hpbench import (nothing but the standard library): it reads
the space from the engine's hello and speaks the JSON-lines protocol on its standard input
and output, one JSON object per line each way. Any program in any language that does the
same can be benchmarked by hpbench. Run it by hand and type the engine's messages, as the
docs show:

    $ python examples/external_random.py
    {"op": "hello", "protocol": 1, "seed": 1, "space": [...], ...}
    {"protocol": 1, "name": "external-random", "version": "1.0", "uses": []}
    {"op": "ask", "n": 1}
    {"suggestions": [{"config": {...}}]}
"""

import json
import math
import random
import sys


def sample(space, rng):
    """One config: each parameter in order, left out when its condition does not hold."""
    config = {}
    for p in space:
        cond = p.get("condition")
        if cond is not None and (cond[0] not in config or config[cond[0]] not in cond[1]):
            continue  # inactive: its parent is inactive or takes another value
        if p["type"] == "categorical":
            config[p["name"]] = rng.choice(p["choices"])
        elif p["type"] == "float":
            lo, hi = p["low"], p["high"]
            if p["log"]:
                config[p["name"]] = min(hi, max(lo, math.exp(rng.uniform(math.log(lo),
                                                                         math.log(hi)))))
            else:
                config[p["name"]] = rng.uniform(lo, hi)
        else:  # int: log-uniform over [low - 1/2, high + 1/2] when log, else uniform
            lo, hi = p["low"], p["high"]
            if p["log"]:
                x = math.exp(rng.uniform(math.log(max(lo - 0.5, lo / 2)), math.log(hi + 0.5)))
                config[p["name"]] = min(hi, max(lo, math.floor(x + 0.5)))
            else:
                config[p["name"]] = rng.randint(lo, hi)
    return config


def main():
    space, rng = None, None
    for line in sys.stdin:  # end of input: the engine is gone, so are we
        message = json.loads(line)
        op = message.get("op")
        if op == "hello":
            if message["protocol"] != 1:
                reply = {"error": f"this worker speaks protocol 1, got {message['protocol']}"}
            else:
                space, rng = message["space"], random.Random(message["seed"])
                reply = {"protocol": 1, "name": "external-random", "version": "1.0",
                         "uses": []}
        elif op == "ask":
            reply = {"suggestions": [{"config": sample(space, rng)}
                                     for _ in range(message["n"])]}
        elif op == "tell":
            reply = {"ok": True}  # random search learns nothing
        elif op == "close":
            print(json.dumps({"ok": True}), flush=True)
            return
        else:
            reply = {"error": f"unknown op {op!r}; expected hello, ask, tell or close"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
