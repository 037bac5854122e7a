"""cdlog."""


def native_status() -> str:
    """Which build of cdlog's per-event hot loops is active: ``native (...)`` when the
    compiled extension is in use, else ``pure (why)`` (see :mod:`cdlog._native`)."""
    from cdlog._native import status  # noqa: PLC0415 - only when asked

    return status()
