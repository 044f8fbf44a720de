"""``surrogate_hpo_fer``: seed 001's sparseness HPO through a surrogate network (DE / PSO)."""
