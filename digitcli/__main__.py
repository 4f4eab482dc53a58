"""`python -m digitcli` runs the command line."""

from digitcli.cli import main

main()
