"""``python -m deepprior.cli``: the ``deepprior`` command."""

from . import main

main()
