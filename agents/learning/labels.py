"""What a learned label is: a root cause, and the issue type, playbook and complexity it implies.

The classifier learns root causes (``scenarios.vocab.TAXONOMY``'s names) plus ``false_alarm``;
the triage rules speak in playbook keys (``agents.playbooks.LADDERS``: ``<subtype>`` or
``<subtype>/<cause>``). These functions translate between the two, so a label says at once the
issue type, the playbook to climb and the blueprint's remediation complexity:

=============  ==============================================================================
complexity     meaning
=============  ==============================================================================
``auto_fix``   the cause's playbook has rungs the organization may run itself
``manual``     the cause's playbook is empty: a person fixes it (escalation)
``none``       a false alarm: nothing to fix
=============  ==============================================================================
"""

from __future__ import annotations

from typing import Final

from agents.playbooks import LADDERS
from scenarios.vocab import TAXONOMY

FALSE_ALARM: Final = "false_alarm"
"""The label of an incident that matched no fault."""

_KEY_OF_CAUSE: Final[dict[str, str]] = {
    cause: subtype if len(causes) == 1 else f"{subtype}/{cause}"
    for subtype, (_, causes) in TAXONOMY.items()
    for cause in causes
}
_TYPE_OF_CAUSE: Final[dict[str, str]] = {
    cause: issue for _, (issue, causes) in TAXONOMY.items() for cause in causes
}
CAUSES: Final[tuple[str, ...]] = tuple(sorted(_KEY_OF_CAUSE))
"""Every root cause a label may name (``induced_by_action`` is collateral, never a label)."""
# the rules' own refinements of a key name the same cause
_ALIASES: Final[dict[str, str]] = {
    "upstream_outage/source_down": "source_outage",
    "credentials_expired/unconfirmed": "expired_credentials",
    "duplicates/partial_replay": "replayed_load",
}


def cause_of_key(key: str) -> str:
    """The root cause a playbook key names ("" for ``unknown``, ``benign`` or a bare symptom)."""
    if key in _ALIASES:
        return _ALIASES[key]
    for cause, k in _KEY_OF_CAUSE.items():
        if k == key:
            return cause
    return ""


def key_of_cause(cause: str) -> str:
    """The playbook key of a root cause.

    Raises:
        KeyError: for a name that is not a root cause (lists the valid ones).
    """
    try:
        return _KEY_OF_CAUSE[cause]
    except KeyError:
        raise KeyError(f"cause: unknown {cause!r}; expected one of {', '.join(CAUSES)}") from None


def issue_type_of(cause: str) -> str:
    """The issue type of a label (``none`` for a false alarm)."""
    return "none" if cause == FALSE_ALARM else _TYPE_OF_CAUSE[cause]


def complexity_of(cause: str) -> str:
    """The remediation complexity of a label (see the module table)."""
    if cause == FALSE_ALARM:
        return "none"
    return "auto_fix" if LADDERS.get(key_of_cause(cause)) else "manual"
