"""The ``juanzong`` command line: one door into the archive."""
