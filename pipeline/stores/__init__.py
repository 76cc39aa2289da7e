"""Every read and write of AWS: raw layer (S3), message contract (SQS), ledger, counters, curated.

``aws`` is the one module that builds boto3 clients. Stores take ``config`` and do
one thing each; they hold no business rules beyond the shape of what they store.
May import ``pipeline.core`` and ``pipeline.sources``.
"""
