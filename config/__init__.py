"""Typed settings, read once at the edge (CLI, API, flow entry) and passed down."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
