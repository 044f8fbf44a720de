"""Seed 004's global macro-micro architecture search with architecture-aware ("dynamic")
training: the space (``space``), Algorithm 1 (``strategy``), the candidate cache that makes it
resumable (``cache``) and the plot of a search's trajectory (``drawing``)."""
