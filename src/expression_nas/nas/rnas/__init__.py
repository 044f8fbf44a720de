"""RNAS-MER search space: hybrid spatiotemporal cells, a network-level path and attention."""
