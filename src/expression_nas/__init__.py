"""expression-nas."""
