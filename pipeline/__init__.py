"""The data pipeline: sources, ingest, process, AWS stores and Lambda entry points."""
