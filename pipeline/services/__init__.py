"""Writes: ingest (+ HTTP fetching), process (+ the upsert), replay, dead-letter tools, recount.

Plain typed functions with keyword arguments, ``config`` always passed in. May import
``core``, ``sources`` and ``stores``; never selectors' callers (handlers, admin, views).
"""
