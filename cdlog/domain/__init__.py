"""cdlog.domain."""
