"""Trust: who is who (canonical ids, the directory of principals), signing and verifying.

Imports only `_core` (besides the standard library, `attrs` and `cryptography`), neither
`transitions` nor `structlog`; its only I/O is reading a reviewed directory file or a key file
when asked to. `_decide` verifies signatures and approvals with it.
"""
