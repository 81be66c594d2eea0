"""Why an approval did not count: stable codes of the trust layer (`Rejection.code`).

Values are part of the public contract, like the codes of `_core/codes.py`: add members, never
rename or reuse one.
"""

from __future__ import annotations

import enum


class TrustCode(enum.StrEnum):
    """Why `verify_approvals` did not count an approval (`Rejection.code`)."""

    NOT_AN_APPROVAL = "NOT_AN_APPROVAL"
    INVALID_PRINCIPAL = "INVALID_PRINCIPAL"
    OTHER_TRANSITION = "OTHER_TRANSITION"
    UNKNOWN_PRINCIPAL = "UNKNOWN_PRINCIPAL"
    NO_PUBLIC_KEY = "NO_PUBLIC_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ROLE_MISSING = "ROLE_MISSING"
    SELF_APPROVAL = "SELF_APPROVAL"
    DUPLICATE_APPROVER = "DUPLICATE_APPROVER"

    @property
    def description(self) -> str:
        """One line saying what the code means."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[TrustCode, str] = {
    TrustCode.NOT_AN_APPROVAL: "The entry is not a signed approval.",
    TrustCode.INVALID_PRINCIPAL: "The approver's id is refused (see canonical ids).",
    TrustCode.OTHER_TRANSITION: (
        "The approval is for another scope, trigger, edge, phase visit or policy."
    ),
    TrustCode.UNKNOWN_PRINCIPAL: "The approver is not in the identity directory.",
    TrustCode.NO_PUBLIC_KEY: "The directory holds no public key for the approver.",
    TrustCode.BAD_SIGNATURE: "The signature does not verify over the approval's fields.",
    TrustCode.ROLE_MISSING: "The directory gives the approver none of the roles needed.",
    TrustCode.SELF_APPROVAL: "The firer's own approval does not count (two-person rule).",
    TrustCode.DUPLICATE_APPROVER: "The principal already approved, maybe in another spelling.",
}
