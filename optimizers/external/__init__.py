"""Optimizers that run out of process, in environments of their own (``hpbench.external``).

Each ``*.toml`` file here declares one (docs/external-optimizers.md);
``hpbench.optimizers.adapters.external_peers`` registers them (they are library adapters).
The worker scripts (``_<name>_worker.py``, with ``_peer.py``) run in the peers' environments
and import nothing from hpbench; their names start with "_", so the registry's walk never
imports them.
"""
