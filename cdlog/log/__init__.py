"""The tamper-evident log: sealed events and how the rules read them, the global Merkle log
and its recorders, signed notes, checkpoints, proofs and the tree audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog import lazy_exports

if TYPE_CHECKING:
    from cdlog.log.checkpoint_format import MAX_SIZE, Checkpoint, open_checkpoint
    from cdlog.log.checkpoint_signing import (
        StoredCheckpoint,
        accept_cosigned,
        create_log_key,
        latest_checkpoint,
        list_checkpoints,
        load_log_signer,
        log_key_path,
        log_verifier,
        sign_checkpoint,
        stored_checkpoint,
    )
    from cdlog.log.context import CONTEXT_TOPICS, CONTEXT_TYPES, TRUST_TYPES, LogContext
    from cdlog.log.facts import (
        fact_of,
        officer_json,
        officer_of,
        payload_json,
        validation_to_input_error,
    )
    from cdlog.log.headproofs import head_proof, prove_head
    from cdlog.log.heads import (
        EXTENSION,
        MapBuilder,
        ProvenHead,
        heads_line,
        heads_of,
        verify_head_doc,
        verify_head_proof,
    )
    from cdlog.log.headstore import heads_between, update_map
    from cdlog.log.ledger import LedgerCursor, read_ledger, recorder_of, write_ledger
    from cdlog.log.ledger_rows import EventRow, LeafRow
    from cdlog.log.ledger_sql import quote_ident
    from cdlog.log.merkle import b64, unb64
    from cdlog.log.note import CosignatureSigner, CosignatureVerifier, NoteVerifier, split_note
    from cdlog.log.pgledger import drop_tables, probe, serialise_ddl
    from cdlog.log.proofs import (
        CONSISTENCY_KEYS,
        INCLUSION_KEYS,
        inclusion_doc,
        prove_consistency,
        prove_inclusion,
        verify_consistency_doc,
        verify_inclusion_doc,
        verify_inclusion_proof,
    )
    from cdlog.log.sealing import (
        SealedEvent,
        Signature,
        build_envelope,
        leaf_hash,
        native_parse,
        parse,
        seal,
        signatures_bytes,
        signing_message,
        stream_id,
    )
    from cdlog.log.tree_audit import LOG, Frontier, TreeAudit, audit_tree

_MODULES: dict[str, tuple[str, ...]] = {
    "cdlog.log.checkpoint_format": (
        "Checkpoint", "MAX_SIZE", "open_checkpoint",
    ),
    "cdlog.log.checkpoint_signing": (
        "StoredCheckpoint", "accept_cosigned", "create_log_key", "latest_checkpoint",
        "list_checkpoints", "load_log_signer", "log_key_path", "log_verifier", "sign_checkpoint",
        "stored_checkpoint",
    ),
    "cdlog.log.context": (
        "CONTEXT_TOPICS", "CONTEXT_TYPES", "LogContext", "TRUST_TYPES",
    ),
    "cdlog.log.facts": (
        "fact_of", "officer_json", "officer_of", "payload_json", "validation_to_input_error",
    ),
    "cdlog.log.headproofs": (
        "head_proof", "prove_head",
    ),
    "cdlog.log.heads": (
        "EXTENSION", "MapBuilder", "ProvenHead", "heads_line", "heads_of", "verify_head_doc",
        "verify_head_proof",
    ),
    "cdlog.log.headstore": (
        "heads_between", "update_map",
    ),
    "cdlog.log.ledger": (
        "LedgerCursor", "read_ledger", "recorder_of", "write_ledger",
    ),
    "cdlog.log.ledger_rows": (
        "EventRow", "LeafRow",
    ),
    "cdlog.log.ledger_sql": (
        "quote_ident",
    ),
    "cdlog.log.merkle": (
        "b64", "unb64",
    ),
    "cdlog.log.note": (
        "CosignatureSigner", "CosignatureVerifier", "NoteVerifier", "split_note",
    ),
    "cdlog.log.pgledger": (
        "drop_tables", "probe", "serialise_ddl",
    ),
    "cdlog.log.proofs": (
        "CONSISTENCY_KEYS", "INCLUSION_KEYS", "inclusion_doc", "prove_consistency",
        "prove_inclusion", "verify_consistency_doc", "verify_inclusion_doc",
        "verify_inclusion_proof",
    ),
    "cdlog.log.sealing": (
        "SealedEvent", "Signature", "build_envelope", "leaf_hash", "native_parse", "parse", "seal",
        "signatures_bytes", "signing_message", "stream_id",
    ),
    "cdlog.log.tree_audit": (
        "Frontier", "LOG", "TreeAudit", "audit_tree",
    ),
}

__all__ = [
    "CONSISTENCY_KEYS",
    "CONTEXT_TOPICS",
    "CONTEXT_TYPES",
    "EXTENSION",
    "INCLUSION_KEYS",
    "LOG",
    "MAX_SIZE",
    "TRUST_TYPES",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "EventRow",
    "Frontier",
    "LeafRow",
    "LedgerCursor",
    "LogContext",
    "MapBuilder",
    "NoteVerifier",
    "ProvenHead",
    "SealedEvent",
    "Signature",
    "StoredCheckpoint",
    "TreeAudit",
    "accept_cosigned",
    "audit_tree",
    "b64",
    "build_envelope",
    "create_log_key",
    "drop_tables",
    "fact_of",
    "head_proof",
    "heads_between",
    "heads_line",
    "heads_of",
    "inclusion_doc",
    "latest_checkpoint",
    "leaf_hash",
    "list_checkpoints",
    "load_log_signer",
    "log_key_path",
    "log_verifier",
    "native_parse",
    "officer_json",
    "officer_of",
    "open_checkpoint",
    "parse",
    "payload_json",
    "probe",
    "prove_consistency",
    "prove_head",
    "prove_inclusion",
    "quote_ident",
    "read_ledger",
    "recorder_of",
    "seal",
    "serialise_ddl",
    "sign_checkpoint",
    "signatures_bytes",
    "signing_message",
    "split_note",
    "stored_checkpoint",
    "stream_id",
    "unb64",
    "update_map",
    "validation_to_input_error",
    "verify_consistency_doc",
    "verify_head_doc",
    "verify_head_proof",
    "verify_inclusion_doc",
    "verify_inclusion_proof",
    "write_ledger",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_exports(__name__, _MODULES)
