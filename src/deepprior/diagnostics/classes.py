"""The 1000 ImageNet (ILSVRC-2012) class names, and turning ``--class`` values into indices."""

from __future__ import annotations

import functools
from importlib import resources

from ..errors import DeepPriorError

__all__ = ["imagenet_classes", "resolve_class", "class_name"]


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The ILSVRC-2012 class names in index order (0 ``tench`` ... 999 ``toilet tissue``).

    Returns:
        A tuple of 1000 names, read from the package data file ``imagenet_classes.txt``.

    Example:
        >>> imagenet_classes()[100]
        'black swan'
    """
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 1000:  # a broken installation, not a user error
        raise RuntimeError(f"imagenet_classes.txt has {len(names)} names instead of 1000")
    return names


def class_name(index: int, num_classes: int = 1000) -> str:
    """A readable name for class ``index``: the ImageNet name when the head has 1000 classes."""
    if num_classes == 1000 and 0 <= index < 1000:
        return imagenet_classes()[index]
    return f"class {index}"


def resolve_class(spec: str | int, num_classes: int = 1000) -> int:
    """Turn ``"100"``, ``100`` or ``"black swan"`` (any case) into a class index.

    Args:
        spec: an index, or an ImageNet class name (only when the classifier has 1000 classes).
        num_classes: the number of classes of the classifier's head.

    Returns:
        The class index in ``[0, num_classes)``.

    Raises:
        DeepPriorError: the index is out of range, the name is unknown or names several
            classes (``crane``, ``maillot``: give the index then).

    Example:
        >>> resolve_class("Black Swan")
        100
    """
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < num_classes:
            raise DeepPriorError(
                f"class {index} is out of range; the classifier has classes 0..{num_classes - 1}"
            )
        return index
    if num_classes != 1000:
        raise DeepPriorError(
            f"class {text!r}: names are known only for ImageNet's 1000 classes; this classifier "
            f"has {num_classes}, give an index 0..{num_classes - 1}"
        )
    key = " ".join(text.lower().replace("_", " ").split())
    names = imagenet_classes()
    hits = [i for i, n in enumerate(names) if n.lower() == key]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        listed = ", ".join(str(i) for i in hits)
        raise DeepPriorError(f"class {text!r} is ambiguous (indices {listed}); give the index")
    near = [f"{n} ({i})" for i, n in enumerate(names) if key and key in n.lower()][:5]
    hint = f"; did you mean {', '.join(near)}?" if near else "; give an index 0..999 or a name"
    raise DeepPriorError(f"unknown class {text!r}{hint}")
