"""Networks rebuilt from architecture specs (``build_model``)."""
