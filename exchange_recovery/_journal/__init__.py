"""Durable records: the journal interface, the hash-chained file journal, replay and compaction."""
