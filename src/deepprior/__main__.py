"""``python -m deepprior``: the ``deepprior`` command."""

from .cli import main

main()
