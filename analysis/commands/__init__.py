"""Commands: the command line (one subcommand per stage) and the analysts' commands."""
