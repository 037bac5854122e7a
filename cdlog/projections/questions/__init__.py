"""The oversight questions, one mixin per family; cdlog.projections.queries.Queries joins them.

Families: ``cases``, ``responsibility`` (and custody), ``approvals`` (and notifications),
``surveillance`` (and timeliness), ``pilot``, ``incidents``, ``pnr``; ``common`` holds the
citation and time helpers they share.
"""
