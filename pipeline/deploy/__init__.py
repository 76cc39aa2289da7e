"""Operator tools that never run inside Lambda: provisioning, IAM, Zappa's callbacks and steps.

Excluded from the zip as a folder (zappa_settings.json ``exclude_glob``); called by
``manage.py provision|iam_policy|enable_batch_failures`` and by Zappa's CLI.
"""
