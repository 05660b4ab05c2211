"""Registers the external optimizers declared in ``hpbench.optimizers.external`` (``hebo``,
``dehb``): library adapters like the others of this folder, but run out of process, each in
its own environment built by ``make peers`` (``hpbench.external``,
docs/external-optimizers.md). Registered from here, so they belong to the adapters family."""

from pathlib import Path

from hpbench.external import load_peers

DECLARATIONS = Path(__file__).resolve().parent.parent / "external"
PEERS = load_peers(DECLARATIONS, module=__name__)
