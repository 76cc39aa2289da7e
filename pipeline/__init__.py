"""The data pipeline: sources, ingest, process, AWS stores and Lambda entry points.

Packages by role; imports run one way, from the bottom up:

    core       config, the naming rule, constants, errors, logs, metrics, tracing, clocks,
               payloads
    sources    one module per built-in source (pure: how to fetch, how to curate)
    stores     AWS clients (the one place that builds them) and every read/write of
               S3, SQS and DynamoDB: raw layer, message contract, ledger, counters, curated;
               the one Lambda call (handing an admin job to the worker)
    services   writes: ingest (+ HTTP), process (+ upsert), replay, dlq, recount, jobs
    selectors  reads: records, analytics, health, runs, sources overview
    handlers   every Lambda entry point; admin/ (the operator's console) and
               management/ (commands) are entry points too, as is records_api/

deploy/ (the CloudFormation stack, its roles and alarms, Zappa steps) and local/
(embedded emulator, sandbox APIs, queue poller, local stack) are tools that never run
inside Lambda and stay out of the zip. The layering is checked by import-linter inside
``make test``.
"""
