"""The Django admin as the operator's console: one module per page, markup in templates.

Django's admin autodiscovery imports this package; importing the page modules
registers them. Pages call services and selectors; none holds pipeline logic.
"""

from pipeline.admin import dlq, jobs, keys, records, runs, sources

__all__ = ["dlq", "jobs", "keys", "records", "runs", "sources"]
