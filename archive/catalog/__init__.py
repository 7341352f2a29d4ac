"""The catalog: the SQL record of what the archive holds and everything done to it."""

from archive.catalog.db import open_catalog, session

__all__ = ["open_catalog", "session"]
