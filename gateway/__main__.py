"""`python -m gateway ...`: the `gateway` command, for an environment without its script."""

from gateway.cli import main

main()
