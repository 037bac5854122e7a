"""Restricted data (issue 11): salted commitments in the log, values in an encrypted vault.

* :mod:`cdlog.restricted.commitment` — the salted field commitment signed in events;
* :mod:`cdlog.restricted.classes` — restricted classes as configuration (EU PNR first);
* :mod:`cdlog.restricted.vault` — the encrypted vault tables and key-encryption keys;
* :mod:`cdlog.restricted.access` — who may read, and reads recorded as events;
* :mod:`cdlog.restricted.erase` — erasure that keeps every proof.
"""
