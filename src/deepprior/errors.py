"""User-facing errors.

Anything the user can fix (a missing file, a mask of the wrong size, a factor the
operator does not support) raises :class:`DeepPriorError`. The CLI prints its
message on one line and exits with status 2; the Python API lets it propagate.
"""

from __future__ import annotations


class DeepPriorError(ValueError):
    """Bad input or settings, with a message that says what is wrong and what to do."""


class StateMismatch(DeepPriorError):
    """A saved fit state that cannot be resumed here: unreadable, or from another run."""
