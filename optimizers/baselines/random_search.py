"""Random search (Bergstra & Bengio 2012): independent uniform draws in the unit cube."""

from __future__ import annotations

from hpbench import Optimizer, register_optimizer

#: unit-cube rows drawn per call of the generator
BLOCK = 256


@register_optimizer("random", tags=("baseline", "exhaustive-free"),
                    description="uniform random search (Bergstra & Bengio 2012)")
class RandomSearch(Optimizer):
    """Uniform samples: log-uniform for log scales, uniform over integers and categories.

    The unit-cube rows are drawn and mapped ``BLOCK`` at a time: a generator fills a (k, d)
    request in row order, so row i of a block is exactly the i-th row one-at-a-time draws
    would give, and ``Space.from_unit_array`` is bit-for-bit the row-by-row map; the configs
    are those of ``space.sample(rng, n)`` per ask, at a fraction of numpy's per-call cost,
    which on a microsecond objective is a large part of a trial's cost.
    """

    batch_size = 1

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._block: list[dict] = []
        self._next = 0

    def ask(self, n: int) -> list[dict]:
        block, i = self._block, self._next
        if i + n > len(block):
            block = block[i:] + self.space.sample(self.rng, max(BLOCK, n))
            self._block, i = block, 0
        self._next = i + n
        return block[i:i + n]

    def tell(self, observations) -> None:
        pass
