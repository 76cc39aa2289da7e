"""The embedded local stack: AWS emulator, sandbox sources, scheduler and queue poller.

Nothing here is imported by the Lambda code paths; it serves ``manage.py runlocal``
and the tests.
"""
