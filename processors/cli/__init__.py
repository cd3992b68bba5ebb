"""The ``dealflow`` command line: the parser and commands, the manager views, the one-line renderings."""
