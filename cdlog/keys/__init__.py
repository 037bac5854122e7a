"""cdlog.keys."""
