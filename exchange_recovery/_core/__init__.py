"""The pure hot path: request and decision types, policies and their validation, the gate.

Imports neither `transitions` nor `structlog` and does no I/O but reading a policy file
(`toml.load_policy`). Every other layer builds on it.
"""
