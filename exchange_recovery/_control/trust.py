"""What a controller, a coordinated controller or a follower checks records against.

`Trust.of(policy, directory, signer)`: with no directory, records are taken as they come (the
single-process default, as before issue #11). With a directory, roles come only from it, a
record made here is sealed (fingerprint, visit, approvals, signature) and every record adopted
from elsewhere is verified (`_decide.verify`) before it takes effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import Actor
from .._core.policy import Policy
from .._core.text import shown
from .._decide.records import Guard, TransitionContext, TransitionRecord
from .._decide.verify import seal_record, verify_record
from .._trust.approvals import SignedApproval, policy_fingerprint
from .._trust.directory import Directory
from .._trust.errors import IdentityError
from .._trust.ids import skeleton
from .._trust.signing import Signer

MAX_APPROVALS: Final = 16
"""More approvals than this on one record is refused (a record has a size cap)."""


def _signed_approvals_suffice(ctx: TransitionContext) -> bool:  # noqa: ARG001 - a Guard
    """Stands in for an approval guard when a directory is configured: the record's signed
    approvals are what counts, and `verify_record` checks them."""
    return True


@attrs.frozen
class Trust:
    """A directory, the signer of this process (if any) and the policy's fingerprint."""

    policy: Policy
    directory: Directory | None
    signer: Signer | None
    fingerprint: str

    @classmethod
    def of(cls, policy: Policy, directory: object, signer: object) -> Trust:
        """Check and bundle the trust options of a controller.

        Raises:
            ConfigurationError: a directory without ``principal``/``principals``, a signer
                without ``principal_id``/``sign``, or a signer without a directory.
        """
        if directory is not None and not _has(directory, "principal", "principals"):
            msg = f"directory must implement Directory (principal, principals), got {shown(directory)}"
            raise ConfigurationError(msg)
        if signer is not None and not (_has(signer, "sign") and _has_text(signer, "principal_id")):
            msg = f"signer must implement Signer (principal_id, sign), got {shown(signer)}"
            raise ConfigurationError(msg)
        if signer is not None and directory is None:
            msg = "a signer needs a directory: signatures are checked against it"
            raise ConfigurationError(msg)
        fingerprint = policy_fingerprint(policy) if directory is not None else ""
        return cls(policy, directory, signer, fingerprint)  # type: ignore[arg-type]  # checked

    @property
    def enabled(self) -> bool:
        """Whether records are signed and verified."""
        return self.directory is not None

    def guards(self, guards: Mapping[str, Guard]) -> dict[str, Guard]:
        """With a directory, approval guards are met by the record's signed approvals."""
        if not isinstance(guards, Mapping):
            msg = f"guards must be a mapping of names to callables, got {shown(guards)}"
            raise ConfigurationError(msg)
        if self.directory is None:
            return dict(guards)
        approval = {g.name for g in self.policy.guards if g.kind == "approval"}
        return {**guards, **dict.fromkeys(approval, _signed_approvals_suffice)}

    def identify(self, actor: Actor) -> Actor:
        """With a directory, the actor as the directory knows it: its canonical id and its roles
        there; one it does not know holds no role (a self-asserted role grants nothing)."""
        if self.directory is None:
            return actor
        try:
            principal = self.directory.principal(actor.name)
            if principal is not None and principal.skeleton == skeleton(actor.name):
                return Actor(principal.id, principal.roles)
        except IdentityError:
            pass
        return Actor(actor.name)

    def seal(self, record: TransitionRecord, visit: int,
             approvals: tuple[SignedApproval, ...]) -> TransitionRecord:
        """`record` made trustworthy (see `_decide.verify.seal_record`); unchanged without a
        directory.

        Raises:
            TransitionRefused: the record cannot be signed or does not verify; approvals given
                with no directory to check them (INVALID_ARGUMENT).
        """
        if self.directory is None:
            if approvals:
                raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=record.scope,
                                        phase=record.source, trigger=record.trigger,
                                        context={"field": "approvals",
                                                 "expected": "none without a directory"})
            return record
        return seal_record(record, policy=self.policy, directory=self.directory,
                           fingerprint=self.fingerprint, visit=visit, signer=self.signer,
                           approvals=approvals)

    def check(self, record: TransitionRecord, visit: int) -> TransitionRefused | None:
        """Why a record from elsewhere may not be adopted, or None (always None without a
        directory)."""
        if self.directory is None:
            return None
        bad = verify_record(record, policy=self.policy, directory=self.directory,
                            fingerprint=self.fingerprint, visit=visit)
        return None if bad is None else bad.refusal(record.scope, record.source, record.trigger)


def _has(obj: object, *methods: str) -> bool:
    """Whether `obj` has each of `methods`, callable (a hostile ``__getattr__`` has none)."""
    try:
        return all(callable(getattr(obj, name, None)) for name in methods)
    except Exception:
        return False


def _has_text(obj: object, name: str) -> bool:
    try:
        return isinstance(getattr(obj, name, None), str)
    except Exception:
        return False


def approvals_of(value: object, *, scope: object, trigger: object) -> tuple[SignedApproval, ...]:
    """`value` as a tuple of signed approvals.

    Raises:
        TransitionRefused: INVALID_ARGUMENT: not a list or tuple of `SignedApproval`s, or more
            than `MAX_APPROVALS`.
    """
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) \
            and len(value) <= MAX_APPROVALS and all(isinstance(a, SignedApproval) for a in value):
        return tuple(value)
    raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=str(scope), phase="?",
                            trigger=str(trigger),
                            context={"field": "approvals",
                                     "expected": f"a list of at most {MAX_APPROVALS} "
                                                 "SignedApproval"})
