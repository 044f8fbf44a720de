"""Seed 004's global macro-micro architecture search with architecture-aware ("dynamic")
training: the space (``space``), Algorithm 1 (``strategy``) and the candidate cache that
makes it resumable (``cache``)."""
