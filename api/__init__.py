"""The HTTP API (FastAPI): the station, reading-service and search doors."""
