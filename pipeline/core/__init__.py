"""The ground floor: configuration, the naming rule, constants, errors, logs, metrics, clocks.

May import nothing else of the pipeline. Nothing here does I/O, and only
``config.get_config`` (called by entry points alone) reads Django settings.
"""
