"""Ingest: a scanning station's batch (SIP) is checked, OCR'd and handed to the archive."""
