"""Pure decisions: may this trigger, or this record, happen now? One door for every caller.

Imports neither `transitions` nor `structlog` and does no I/O; guards and authorizers are
callables handed in by the layers above.
"""
