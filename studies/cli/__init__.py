"""The command line: its options (`options.parser`), read into `studies.settings.Settings`."""
