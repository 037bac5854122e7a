"""The parts :class:`cdlog.application.CaseLog` is made of, one responsibility each.

``base`` (what the parts share), ``writing`` (batches: prepare, commit, save), ``trust`` (trust
roots and officer keys), ``restricted`` (the restricted-data vault), and the typed commands of
:mod:`cdlog.commands` by stage: ``typed`` (their common helpers), ``port_stage``,
``operation_stage``, ``after_stage``. Programs import from cdlog.application and cdlog.commands.
"""
