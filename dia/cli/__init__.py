"""The ``dia`` command line (``dia.cli.main:app``)."""
