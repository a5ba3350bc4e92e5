"""The command line: its options, the checked `Settings` they make, and its one-line errors."""
