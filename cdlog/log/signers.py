"""The officer keys a log meets, remembered while its key registry stays unchanged.

Most events are signed by a few officer keys, and the registry changes only at trust events.
The replay's one-step path (:meth:`cdlog.verify.replay.Verifier._replay_clean`) and the write
path (``_identify`` and the signature check of :mod:`cdlog.app.writing`) ask this cache, not
the registry, for each event's key: its public key, whether it may sign at a log position and
time (what :meth:`~cdlog.keys.registry.KeyRegistry.signer_in_force` answers), and, for the
replay, whether the envelope's party is the key's subject (what
:func:`~cdlog.log.facts.officer_of` and a comparison answer). Every entry is dropped as soon
as the registry's :attr:`~cdlog.keys.registry.KeyRegistry.generation` moves on, or another
registry is asked about. Whatever it cannot answer yes to, its callers ask the registry, whose
answer (and refusal in words) is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdlog.domain.values import Officer
from cdlog.keys.registry import KeyRegistry
from cdlog.log.facts import officer_of

KEPT = 1024
"""Keys remembered at most (a log's officer keys are far fewer)."""


@dataclass(slots=True)
class KnownSigner:
    """What the registry says of one officer key, as of the cache's generation."""

    public: bytes
    certified_at: int
    revoked_at: int | None
    not_before: datetime
    not_after: datetime
    expired: bool
    """The registry's key clock is past the certificate's end."""
    subject: Officer
    party: dict[str, Any] | None = None
    """The last envelope party seen for this key whose values are all text."""
    claimed: Officer | None = None
    same: bool = False

    def in_force(self, position: int, at: datetime) -> bool:
        """:meth:`~cdlog.keys.registry.KeyRegistry.signer_in_force` is not None."""
        return (self.certified_at <= position
                and (self.revoked_at is None or self.revoked_at >= position)
                and at.utcoffset() is not None and not self.expired
                and self.not_before <= at <= self.not_after)

    def signs_as(self, party: dict[str, Any]) -> tuple[Officer, bool]:
        """``officer_of(party)`` and whether it is this key's subject (``officer_of``'s
        ValueError for a malformed party propagates)."""
        if party == self.party and self.claimed is not None:
            return self.claimed, self.same
        claimed = officer_of(party)
        same = claimed == self.subject
        if all(type(v) is str for v in party.values()):
            self.party, self.claimed, self.same = dict(party), claimed, same
        return claimed, same


class SignerCache:
    """:class:`KnownSigner` entries for the officer keys of one registry."""

    def __init__(self) -> None:
        self._registry: KeyRegistry | None = None
        self._generation = -1
        self._known: dict[str, KnownSigner] = {}

    def get(self, registry: KeyRegistry, key_id: str) -> KnownSigner | None:
        """The officer key ``key_id`` as ``registry`` knows it now; None for a root key or a
        key the registry does not know."""
        if registry is not self._registry or registry.generation != self._generation:
            self._registry, self._generation = registry, registry.generation
            self._known = {}
        known = self._known.get(key_id)
        if known is not None:
            return known
        record = registry.officer_key(key_id)
        if record is None:
            return None
        cert = record.certificate.certificate
        clock = registry.clock
        known = KnownSigner(
            public=cert.public_key_bytes(), certified_at=record.certified_at,
            revoked_at=record.revoked_at, not_before=cert.not_before, not_after=cert.not_after,
            expired=clock is not None and clock > cert.not_after, subject=record.subject)
        if len(self._known) >= KEPT:
            self._known = {}
        self._known[key_id] = known
        return known
