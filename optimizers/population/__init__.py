"""Population methods: genetic algorithm, particle swarm, differential evolution, CMA-ES."""
