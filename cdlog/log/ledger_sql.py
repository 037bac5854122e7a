"""The Merkle log's SQL: every statement of the ledger, for SQLite and for PostgreSQL (the tree
logic that runs them is :mod:`cdlog.log.ledger`).
"""

from __future__ import annotations

ROWS_PER_INSERT = 32
"""Rows per multi-row insert where the driver has no array parameters (SQLite): one statement
of 32 rows costs about 0.45 µs a row less than 32 executions of a one-row statement, and one
fixed size keeps the statement cache small (the rest of a batch goes row by row)."""


class LedgerSQL:
    """The statements of the Merkle log; ``{events}`` is the (qualified) events table."""

    create: tuple[str, ...]
    lock: str
    last_leaf: str
    tail: str
    count_leaves: str
    insert_leaf: str
    insert_node: str
    # One statement for many rows, with one array parameter per column ("": executemany).
    insert_leaves_bulk: str = ""
    insert_nodes_bulk: str = ""
    # Without array parameters: one statement of ROWS_PER_INSERT rows ("": executemany).
    insert_leaves_many: str = ""
    insert_nodes_many: str = ""
    select_nodes: str
    node_values: str
    select_level_range: str
    count_nodes: str
    select_nodes_beyond: str
    leaf_by_event: str
    leaf_by_index: str
    leaf_by_notification: str
    leaves_page: str
    leaves_of_case: str
    count_events_after: str
    context_between: str
    mark: str
    any_rows: str
    events_after: str
    event_by_notification: str
    notifications_of_topic: str
    insert_checkpoint: str
    select_checkpoints: str
    latest_checkpoint: str
    checkpoint_at: str
    insert_cosignature: str
    select_cosignatures: str


class SQLiteLedgerSQL(LedgerSQL):
    """Every SQL statement of the Merkle log, for SQLite. ``{events}`` is the events table."""

    create = (
        "CREATE TABLE IF NOT EXISTS merkle_leaves ("
        "leaf_index INTEGER PRIMARY KEY, "
        "notification_id INTEGER NOT NULL UNIQUE, "
        "originator_id TEXT NOT NULL, "
        "originator_version INTEGER NOT NULL, "
        "UNIQUE (originator_id, originator_version))",
        "CREATE TABLE IF NOT EXISTS merkle_nodes ("
        "level INTEGER NOT NULL, "
        "idx INTEGER NOT NULL, "
        "hash BLOB NOT NULL, "
        "PRIMARY KEY (level, idx)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS checkpoints ("
        "size INTEGER PRIMARY KEY, "
        "root BLOB NOT NULL, "
        "note TEXT NOT NULL, "
        "created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS cosignatures ("
        "size INTEGER NOT NULL REFERENCES checkpoints (size), "
        "name TEXT NOT NULL, "
        "key_id BLOB NOT NULL, "
        "timestamp INTEGER NOT NULL, "
        "line TEXT NOT NULL, "
        "received_at TEXT NOT NULL, "
        "PRIMARY KEY (size, name, key_id))",
    )
    # Takes the write lock at the start of a transaction (SQLite: any write statement does).
    lock = "DELETE FROM checkpoints WHERE size < 0"
    # Index-backed lookups only: these run in every insert transaction.
    last_leaf = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                 "FROM merkle_leaves WHERE leaf_index = (SELECT MAX(leaf_index) FROM "
                 "merkle_leaves)")
    # The last leaf and how many events follow it (``?``: below any id, for an empty tree).
    tail = ("SELECT l.leaf_index, l.notification_id, l.originator_id, l.originator_version, "
            "(SELECT COUNT(*) FROM {events} WHERE rowid > COALESCE(l.notification_id, ?)) "
            "FROM (SELECT 1) AS one LEFT JOIN merkle_leaves AS l "
            "ON l.leaf_index = (SELECT MAX(leaf_index) FROM merkle_leaves)")
    count_leaves = "SELECT COUNT(*) FROM merkle_leaves"
    insert_leaf = ("INSERT INTO merkle_leaves (leaf_index, notification_id, originator_id, "
                   "originator_version) VALUES (?, ?, ?, ?)")
    insert_node = "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)"
    insert_leaves_many = insert_leaf.replace(
        "(?, ?, ?, ?)", ", ".join(["(?, ?, ?, ?)"] * ROWS_PER_INSERT))
    insert_nodes_many = insert_node.replace("(?, ?, ?)", ", ".join(["(?, ?, ?)"] * ROWS_PER_INSERT))
    select_nodes = ("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v JOIN merkle_nodes AS n "
                    "ON n.level = v.column1 AND n.idx = v.column2")
    node_values = "(?, ?)"
    select_level_range = ("SELECT idx, hash FROM merkle_nodes WHERE level = ? AND idx >= ? "
                          "AND idx < ? ORDER BY idx")
    count_nodes = "SELECT COUNT(*) FROM merkle_nodes"
    select_nodes_beyond = ("SELECT level, idx FROM merkle_nodes WHERE ((idx + 1) << level) > ? "
                           "ORDER BY level, idx LIMIT ?")
    leaf_by_event = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                     "FROM merkle_leaves WHERE originator_id = ? AND originator_version = ?")
    leaf_by_index = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                     "FROM merkle_leaves WHERE leaf_index = ?")
    leaf_by_notification = ("SELECT leaf_index, notification_id, originator_id, "
                            "originator_version FROM merkle_leaves WHERE notification_id = ?")
    leaves_page = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                   "FROM merkle_leaves WHERE leaf_index >= ? ORDER BY leaf_index LIMIT ?")
    leaves_of_case = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                      "FROM merkle_leaves WHERE originator_id = ? AND leaf_index < ? "
                      "ORDER BY leaf_index")
    count_events_after = "SELECT COUNT(*) FROM {events} WHERE rowid > ?"
    context_between = ("SELECT rowid, topic FROM {events} WHERE rowid > ? AND rowid < ? AND "
                       "topic IN ({topics}) ORDER BY rowid LIMIT 1")
    mark = "?"
    any_rows = ("SELECT EXISTS (SELECT 1 FROM merkle_leaves) OR EXISTS (SELECT 1 FROM "
                "merkle_nodes) OR EXISTS (SELECT 1 FROM checkpoints)")
    events_after = ("SELECT rowid, originator_id, originator_version, topic, state FROM {events} "
                    "WHERE rowid > ? ORDER BY rowid LIMIT ?")
    event_by_notification = ("SELECT rowid, originator_id, originator_version, topic, state "
                             "FROM {events} WHERE rowid = ?")
    notifications_of_topic = ("SELECT rowid FROM {events} WHERE topic = ? AND rowid > ? "
                              "ORDER BY rowid LIMIT ?")
    insert_checkpoint = ("INSERT INTO checkpoints (size, root, note, created_at) "
                         "VALUES (?, ?, ?, ?)")
    select_checkpoints = "SELECT size, root, note, created_at FROM checkpoints ORDER BY size"
    latest_checkpoint = ("SELECT size, root, note, created_at FROM checkpoints "
                         "ORDER BY size DESC LIMIT 1")
    checkpoint_at = "SELECT size, root, note, created_at FROM checkpoints WHERE size = ?"
    insert_cosignature = ("INSERT OR IGNORE INTO cosignatures (size, name, key_id, timestamp, "
                          "line, received_at) VALUES (?, ?, ?, ?, ?, ?)")
    select_cosignatures = ("SELECT name, key_id, timestamp, line FROM cosignatures "
                           "WHERE size = ? ORDER BY name, key_id")


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


class PostgresLedgerSQL(LedgerSQL):
    """The PostgreSQL twin of :class:`SQLiteLedgerSQL`.

    The class attributes are templates naming ``{leaves}``, ``{nodes}``, ``{checkpoints}`` and
    ``{cosignatures}``; an instance fills them with tables of ``schema`` named ``<prefix>
    merkle_leaves`` and so on (``{events}`` is left for :class:`LedgerCursor`). Case ids are
    kept as hex text, as in SQLite, so leaf rows compare equal across stores; the events
    table's ``uuid`` column is read as hex. The write lock is the ``EXCLUSIVE`` table lock the
    insert path takes on the events table, so checkpoints and inserts serialise.
    """

    create = (
        "CREATE TABLE IF NOT EXISTS {leaves} ("
        "leaf_index BIGINT PRIMARY KEY, "
        "notification_id BIGINT NOT NULL UNIQUE, "
        "originator_id TEXT NOT NULL, "
        "originator_version BIGINT NOT NULL, "
        "UNIQUE (originator_id, originator_version))",
        "CREATE TABLE IF NOT EXISTS {nodes} ("
        "level INTEGER NOT NULL, "
        "idx BIGINT NOT NULL, "
        "hash BYTEA NOT NULL, "
        "PRIMARY KEY (level, idx))",
        "CREATE TABLE IF NOT EXISTS {checkpoints} ("
        "size BIGINT PRIMARY KEY, "
        "root BYTEA NOT NULL, "
        "note TEXT NOT NULL, "
        "created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {cosignatures} ("
        "size BIGINT NOT NULL REFERENCES {checkpoints} (size), "
        "name TEXT NOT NULL, "
        "key_id BYTEA NOT NULL, "
        "timestamp BIGINT NOT NULL, "
        "line TEXT NOT NULL, "
        "received_at TEXT NOT NULL, "
        "PRIMARY KEY (size, name, key_id))",
    )
    lock = "LOCK TABLE {events} IN EXCLUSIVE MODE"
    last_leaf = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                 "FROM {leaves} ORDER BY leaf_index DESC LIMIT 1")
    tail = ("SELECT l.leaf_index, l.notification_id, l.originator_id, l.originator_version, "
            "(SELECT COUNT(*) FROM {events} WHERE notification_id > "
            "COALESCE(l.notification_id, %s)) FROM (SELECT 1) AS one LEFT JOIN LATERAL "
            "(SELECT * FROM {leaves} ORDER BY leaf_index DESC LIMIT 1) AS l ON true")
    count_leaves = "SELECT COUNT(*) FROM {leaves}"
    insert_leaf = ("INSERT INTO {leaves} (leaf_index, notification_id, originator_id, "
                   "originator_version) VALUES (%s, %s, %s, %s)")
    insert_node = "INSERT INTO {nodes} (level, idx, hash) VALUES (%s, %s, %s)"
    insert_leaves_bulk = ("INSERT INTO {leaves} (leaf_index, notification_id, originator_id, "
                          "originator_version) SELECT * FROM unnest(%b::bigint[], "
                          "%b::bigint[], %b::text[], %b::bigint[])")
    insert_nodes_bulk = ("INSERT INTO {nodes} (level, idx, hash) SELECT * FROM "
                         "unnest(%b::integer[], %b::bigint[], %b::bytea[])")
    select_nodes = ("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v (level, idx) "
                    "JOIN {nodes} AS n ON n.level = v.level AND n.idx = v.idx")
    node_values = "(%s::integer, %s::bigint)"
    select_level_range = ("SELECT idx, hash FROM {nodes} WHERE level = %s AND idx >= %s "
                          "AND idx < %s ORDER BY idx")
    count_nodes = "SELECT COUNT(*) FROM {nodes}"
    select_nodes_beyond = ("SELECT level, idx FROM {nodes} WHERE ((idx + 1) << level) > %s "
                           "ORDER BY level, idx LIMIT %s")
    leaf_by_event = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                     "FROM {leaves} WHERE originator_id = %s AND originator_version = %s")
    leaf_by_index = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                     "FROM {leaves} WHERE leaf_index = %s")
    leaf_by_notification = ("SELECT leaf_index, notification_id, originator_id, "
                            "originator_version FROM {leaves} WHERE notification_id = %s")
    leaves_page = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                   "FROM {leaves} WHERE leaf_index >= %s ORDER BY leaf_index LIMIT %s")
    leaves_of_case = ("SELECT leaf_index, notification_id, originator_id, originator_version "
                      "FROM {leaves} WHERE originator_id = %s AND leaf_index < %s "
                      "ORDER BY leaf_index")
    count_events_after = "SELECT COUNT(*) FROM {events} WHERE notification_id > %s"
    context_between = ("SELECT notification_id, topic FROM {events} WHERE notification_id > %s "
                       "AND notification_id < %s AND topic IN ({topics}) "
                       "ORDER BY notification_id LIMIT 1")
    mark = "%s"
    any_rows = ("SELECT EXISTS (SELECT 1 FROM {leaves}) OR EXISTS (SELECT 1 FROM {nodes}) "
                "OR EXISTS (SELECT 1 FROM {checkpoints})")
    events_after = ("SELECT notification_id, replace(originator_id::text, '-', ''), "
                    "originator_version, topic, state FROM {events} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s")
    event_by_notification = ("SELECT notification_id, replace(originator_id::text, '-', ''), "
                             "originator_version, topic, state FROM {events} "
                             "WHERE notification_id = %s")
    notifications_of_topic = ("SELECT notification_id FROM {events} WHERE topic = %s AND "
                              "notification_id > %s ORDER BY notification_id LIMIT %s")
    insert_checkpoint = ("INSERT INTO {checkpoints} (size, root, note, created_at) "
                         "VALUES (%s, %s, %s, %s)")
    select_checkpoints = "SELECT size, root, note, created_at FROM {checkpoints} ORDER BY size"
    latest_checkpoint = ("SELECT size, root, note, created_at FROM {checkpoints} "
                         "ORDER BY size DESC LIMIT 1")
    checkpoint_at = "SELECT size, root, note, created_at FROM {checkpoints} WHERE size = %s"
    insert_cosignature = ("INSERT INTO {cosignatures} (size, name, key_id, timestamp, line, "
                          "received_at) VALUES (%s, %s, %s, %s, %s, %s) "
                          "ON CONFLICT DO NOTHING")
    select_cosignatures = ("SELECT name, key_id, timestamp, line FROM {cosignatures} "
                           "WHERE size = %s ORDER BY name, key_id")

    def __init__(self, schema: str = "public", prefix: str = "cdlog_") -> None:
        self.schema = schema
        self.tables = {kind: f"{quote_ident(schema)}.{quote_ident(prefix + table)}"
                       for kind, table in (("leaves", "merkle_leaves"),
                                           ("nodes", "merkle_nodes"),
                                           ("checkpoints", "checkpoints"),
                                           ("cosignatures", "cosignatures"))}
        for name in LedgerSQL.__annotations__:
            value = getattr(type(self), name)
            if isinstance(value, tuple):
                setattr(self, name, tuple(self._fill(v) for v in value))
            else:
                setattr(self, name, self._fill(value))

    def _fill(self, template: str) -> str:
        for kind, table in self.tables.items():
            template = template.replace("{" + kind + "}", table)
        return template
