"""cdlog.projections."""
