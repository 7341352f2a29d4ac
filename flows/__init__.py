"""Prefect flows, one module per job. Each flow body shows the whole data path of its job;
its tasks wrap stages from ``ingest``, ``archive`` and ``dissemination`` and add retries."""
