"""The ``cliproxy`` command: every subcommand, its options and its terminal output."""
