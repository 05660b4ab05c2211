"""Random search (Bergstra & Bengio 2012): independent uniform draws in the unit cube."""

from __future__ import annotations

from hpbench import Optimizer, register_optimizer


@register_optimizer("random", tags=("baseline", "exhaustive-free"),
                    description="uniform random search (Bergstra & Bengio 2012)")
class RandomSearch(Optimizer):
    """Uniform samples: log-uniform for log scales, uniform over integers and categories."""

    batch_size = 1

    def ask(self, n: int) -> list[dict]:
        return self.space.sample(self.rng, n)

    def tell(self, observations) -> None:
        pass
