"""The ``dealflow`` command line: ``main`` and ``parser``, the commands by job (``ops``, ``live``,
``reports``, ``devtools``), the manager views, the one-line renderings."""
