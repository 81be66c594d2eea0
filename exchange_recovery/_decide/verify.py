"""May a record decided elsewhere be adopted? Its signatures and approvals, checked purely.

Every door that adopts a record (`Controller.apply`, a `Follower`, recovery) and every door
that makes one (`Controller.fire`, `CoordinatedController`) asks `verify_record` with an
identity directory: a relaxing record must be signed by a principal of the directory who may
fire its trigger, under this policy (its fingerprint), and carry the signed approvals its
transition's approval guards require, from distinct principals other than the firer, for the
scope's current phase visit. Tightening records need none of this (anyone may halt); they
are attributed to whoever the record names.
"""

from __future__ import annotations

import attrs

from .._core.codes import RefusalCode
from .._core.errors import TransitionRefused
from .._core.policy import Policy
from .._trust.approvals import canonical_bytes, signed_by, verify_approvals
from .._trust.directory import Directory
from .._trust.errors import IdentityError, SigningError
from .._trust.ids import same_principal
from .._trust.signing import Signer
from .decide import Misfit
from .records import TransitionRecord


def record_message(record: TransitionRecord) -> bytes:
    """The bytes the firer signs: every field of `record` but its version and signature.

    The version is left out because a coordinator assigns it when it stores the record.

    Raises:
        SigningError: a field cannot be encoded (e.g. a lone surrogate in the reason).
    """
    return canonical_bytes({
        "scope": record.scope, "source": record.source, "dest": record.dest,
        "trigger": record.trigger, "actor": record.actor, "reason": record.reason,
        "timestamp": record.timestamp, "relaxing": record.relaxing, "policy": record.policy,
        "visit": record.visit, "approvals": [a.to_dict() for a in record.approvals],
    }, domain="record")


def sign_record(record: TransitionRecord, signer: Signer) -> TransitionRecord:
    """`record` with `signer`'s signature.

    Raises:
        SigningError: the record cannot be encoded, or the signer returned no signature.
    """
    signature = signer.sign(record_message(record))
    if not isinstance(signature, bytes):
        msg = f"the signer returned {type(signature).__name__}, not bytes"
        raise SigningError(msg)
    return attrs.evolve(record, signature=signature)


def verify_record(record: TransitionRecord, *, policy: Policy, directory: Directory,
                  fingerprint: str, visit: int) -> Misfit | None:
    """Whether a record may be adopted as trustworthy; None if it may, else why not.

    `visit` is the version at which the receiver has the record's scope entering its current
    phase: approvals given for another visit do not count.
    """
    if not record.relaxing:
        return None  # tightening: anyone may halt
    if record.policy != fingerprint:
        return Misfit(RefusalCode.POLICY_MISMATCH, {"record_policy": record.policy[:16],
                                                    "policy": fingerprint[:16]})
    try:
        message = record_message(record)
    except SigningError as exc:
        return Misfit(RefusalCode.SIGNATURE_INVALID, {"actor": record.actor, "error": str(exc)})
    firer = signed_by(directory, record.actor, message, record.signature)
    if firer is None:
        return Misfit(RefusalCode.SIGNATURE_INVALID, {
            "actor": record.actor,
            "signature": "missing" if not record.signature else "does not verify"})
    permission = policy.permission(record.trigger)
    if policy.permissions and (permission is None or not firer.roles & permission.roles):
        needed = sorted(permission.roles) if permission is not None else []
        return Misfit(RefusalCode.UNAUTHORIZED, {"actor": firer.id, "roles": sorted(firer.roles),
                                                 "needed_roles": needed})
    spec = policy._derived.edges.get((record.source, record.trigger))
    for name in spec.guards if spec is not None else ():
        guard = policy.guard(name)
        if guard is None or guard.kind != "approval":
            continue
        try:
            result = verify_approvals(
                directory, record.approvals, scope=record.scope, trigger=record.trigger,
                source=record.source, dest=record.dest, visit=visit, policy_fingerprint=fingerprint,
                needed=1, roles=guard.roles, firer=firer.id)
        except IdentityError as exc:
            return Misfit(RefusalCode.APPROVAL_MISSING, {"guard": name, "error": str(exc)})
        if not result.ok:
            return Misfit(RefusalCode.APPROVAL_MISSING, {
                "guard": name, "approved_by": list(result.approvers),
                "needed_roles": sorted(guard.roles),
                "rejected": [str(r) for r in result.rejected][:5]})
    if record.visit != visit:
        return Misfit(RefusalCode.SIGNATURE_INVALID, {"visit": record.visit, "current_visit": visit})
    return None


def seal_record(record: TransitionRecord, *, policy: Policy, directory: Directory,
                fingerprint: str, visit: int, signer: Signer | None,
                approvals: tuple[object, ...]) -> TransitionRecord:
    """A record decided here, made trustworthy: fingerprint, visit, approvals, signature.

    A relaxing record must be signed by the principal it names (the `signer`'s); a tightening
    one is signed when the signer is its actor, and goes unsigned otherwise (anyone may halt).
    The sealed record must pass `verify_record`, exactly as every receiver will check it.

    Raises:
        TransitionRefused: SIGNATURE_INVALID, UNAUTHORIZED, APPROVAL_MISSING, POLICY_MISMATCH.
    """
    record = attrs.evolve(record, policy=fingerprint, visit=visit,
                          approvals=approvals)  # type: ignore[arg-type]  # checked by verify
    try:
        mine = signer is not None and same_principal(signer.principal_id, record.actor)
    except IdentityError:
        mine = False
    if signer is not None and mine:
        try:
            record = sign_record(record, signer)
        except (SigningError, IdentityError) as exc:
            if record.relaxing:
                raise _refused(record, RefusalCode.SIGNATURE_INVALID, error=str(exc)) from exc
    elif record.relaxing:
        raise _refused(record, RefusalCode.SIGNATURE_INVALID, actor=record.actor,
                       signer=signer.principal_id if signer is not None else "none")
    bad = verify_record(record, policy=policy, directory=directory, fingerprint=fingerprint,
                        visit=visit)
    if bad is not None:
        raise bad.refusal(record.scope, record.source, record.trigger)
    return record


def _refused(record: TransitionRecord, code: RefusalCode, **context: object) -> TransitionRefused:
    return TransitionRefused(code, scope=record.scope, phase=record.source,
                             trigger=record.trigger, context=context)
