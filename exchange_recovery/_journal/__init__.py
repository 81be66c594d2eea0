"""Durable records: the journal interface and the file journal (a SHA-256 chain, keyed by an
HMAC with a `JournalKey`, held against an anchor outside the file), its verification, replay,
compaction and fail-safe restart.

Modules: `protocol` (the `Journal` interface), `format` (the line format), `keys` (the journal
key), `anchor` (the anchor file), `file` (`FileJournal`), `scan` (streaming verification),
`replay` (the verdict against the anchor, `verify_journal`, `compact_journal`).
"""
