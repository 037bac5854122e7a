"""Restricted data (issue 11): salted commitments in the log, values in an encrypted vault.

* :mod:`cdlog.restricted.commitment` — the salted field commitment signed in events;
* :mod:`cdlog.restricted.classes` — restricted classes as configuration (EU PNR first);
* :mod:`cdlog.restricted.vault` — reading the encrypted vault (and every vault name, re-exported):
  :mod:`~cdlog.restricted.kek` (key-encryption keys and their files),
  :mod:`~cdlog.restricted.vault_record` (a row's encryption format),
  :mod:`~cdlog.restricted.vault_store` (the table's SQL and in-transaction operations);
* :mod:`cdlog.restricted.access` — who may read, and reads recorded as events;
* :mod:`cdlog.restricted.erase` — erasure that keeps every proof.
"""
