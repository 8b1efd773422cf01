"""`python -m firkin`: the `firkin` command line."""

from firkin.cli import main

main()
