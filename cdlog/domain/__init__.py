"""The domain: what a case is, what may happen in it and in what order; pure (no I/O, no
sealing, no keys), so the write path and the verifier run the very same rules.

* :mod:`cdlog.domain.events` - the event catalogue by stage (its public names: every payload
  class, ``CATALOGUE``, ``payload_model``, ``stream_kind``);
* :mod:`cdlog.domain.case` - ``CaseState`` and its duties; :mod:`cdlog.domain.evolve` - how each
  event changes it; :mod:`cdlog.domain.rules` - ``check``, the rules R1-R9 by stage;
* :mod:`cdlog.domain.config` - ``Config`` (approvals, pilot locations, deadlines);
  :mod:`cdlog.domain.values` - ``Officer``, ``Occurred`` and the shared value types;
  :mod:`cdlog.domain.origins` - who holds responsibility by origin;
  :mod:`cdlog.domain.restricted_classes` - restricted classes (EU PNR) as configuration.
"""
