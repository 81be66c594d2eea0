"""The etcd coordination backend (``pip install 'exchange-recovery[etcd]'``).

`EtcdCoordinator` implements `exchange_recovery.Coordinator` on an etcd cluster: proposals are
transactions comparing the scope key's ``mod_revision``, followers watch from their last
revision + 1 and resume on any error, gateways keep leases under ``gateways/``. Every connection
is TLS with a client certificate and an etcd user (``plaintext=True`` only when asked for); a
stored value that is not a record is quarantined, never fatal. See docs/deployment.md. Nothing in
the core package imports this module.

Without the extra, importing it raises a `ModuleNotFoundError` that names the extra to install.
"""

try:
    from ._backend import EtcdCoordinator as EtcdCoordinator
except ImportError as _missing:
    if (_missing.name or "").partition(".")[0] not in {"aetcd", "grpc"}:
        raise
    _msg = (f"exchange_recovery.etcd needs the 'etcd' extra ({_missing.name} is not installed): "
            "pip install 'exchange-recovery[etcd]'")
    raise ModuleNotFoundError(_msg, name=_missing.name) from _missing
from ._records import decode as decode
from ._records import encode as encode

__all__ = ["EtcdCoordinator", "decode", "encode"]

for _name in __all__:
    globals()[_name].__module__ = "exchange_recovery.etcd"
del _name
