"""Small, self-contained numerical studies that reproduce findings of the research documents."""
