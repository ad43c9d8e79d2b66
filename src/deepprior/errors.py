"""User-facing errors.

Anything the user can fix (a missing file, a mask of the wrong size, a factor the
operator does not support) raises :class:`DeepPriorError`. Its message speaks the
library's terms (``"iters must be >= 0, got -3"``), and ``param`` names the argument
it is about, so that a front end can say it in its own terms: the CLI turns ``param``
into the flag (``--iters``), prints the message on one line and exits with status 2;
the Python API lets the error propagate unchanged.
"""

from __future__ import annotations

__all__ = ["DeepPriorError", "DeepPriorWarning", "ImageTooSmall", "StateMismatch"]


class DeepPriorError(ValueError):
    """Bad input or settings, with a message that says what is wrong and what to do.

    Args:
        message: what is wrong, in the terms of the Python API (argument names, not flags).
        param: the argument the error is about (``"iters"``, ``"p_known"``), if one is;
            the message should name it as written here, so that a front end can replace
            that name with its own (the CLI's ``--iters``).

    Example:
        >>> e = DeepPriorError("iters must be >= 0, got -3", param="iters")
        >>> (str(e), e.param)
        ('iters must be >= 0, got -3', 'iters')
    """

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def __reduce__(self) -> tuple:
        # Keep ``param`` across pickling (errors raised in --jobs worker processes).
        return (_rebuild, (type(self), str(self), self.param))


def _rebuild(cls: type[DeepPriorError], message: str, param: str | None) -> DeepPriorError:
    return cls(message, param=param)


class ImageTooSmall(DeepPriorError):
    """The image is smaller than the generator's downsampling allows.

    Args:
        message: as for :class:`DeepPriorError`.
        param: the argument it is about (``"net"``).
        net: the generator's name.
        min_side: the smallest image side it accepts, in px.
        hint: what else to try besides a larger image (``""``: nothing).
    """

    def __init__(
        self,
        message: str = "",
        *,
        param: str | None = "net",
        net: str = "",
        min_side: int = 1,
        hint: str = "",
    ) -> None:
        super().__init__(message, param=param)
        self.net, self.min_side, self.hint = net, min_side, hint


class StateMismatch(DeepPriorError):
    """A saved fit state that cannot be resumed here: unreadable, or from another run."""


class DeepPriorWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. a very large image).

    The CLI prints it on one line as ``deepprior: warning: MESSAGE``.
    """
