"""``global_nas_fer``: seed 004's global macro-micro search with architecture-aware training,
its random-sampling baseline and relative improvement."""
