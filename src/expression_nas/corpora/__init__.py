"""Corpus loaders: real on-disk layouts to a raw index table (see ``base.INDEX_COLUMNS``)."""
