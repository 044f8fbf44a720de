"""Architecture search: the shared spec format, bilevel steps and search strategies."""
