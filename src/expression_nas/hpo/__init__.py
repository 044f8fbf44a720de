"""Hyper-parameter optimisation that is not weight-sharing NAS: search spaces, a Latin-hypercube
start and population optimizers (DE, PSO, random search) driven by the caller (ask/tell)."""
