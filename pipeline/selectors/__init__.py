"""Reads: records (paged, no scans), analytics, health, run reconciliation, sources overview.

May import ``core``, ``sources``, ``stores`` and each other; never services.
"""
