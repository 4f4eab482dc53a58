"""`python -m digitcli` runs the command line."""

from digitcli.cli import main

if __name__ == "__main__":  # not again in the processes `train` spawns
    main()
