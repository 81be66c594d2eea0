"""The transitions-based controller: lock, write-ahead order, publication, audit, recovery."""
