"""cdlog."""
