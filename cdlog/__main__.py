"""``python -m cdlog``."""

from cdlog.cli import main

main()
