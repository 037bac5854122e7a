"""Keys: who may sign, and the signing itself; private keys never leave a ``Signer``.

* :mod:`cdlog.keys.signer` - ``Signer`` and ``Ed25519Signer``;
* :mod:`cdlog.keys.keyfile` - key files encrypted at rest (OpenSSH format: bcrypt KDF, AES-256-CTR);
* :mod:`cdlog.keys.certificate` - officer key certificates an agency root signs;
* :mod:`cdlog.keys.trust` - ``TrustRoot`` and trust files a verifier holds;
* :mod:`cdlog.keys.registry` - ``KeyRegistry``: which keys may sign as of a log position.
"""
