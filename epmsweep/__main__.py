"""``python -m epmsweep``: the command line."""

from epmsweep.cli import main

main()
