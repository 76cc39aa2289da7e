"""Constants for key layouts, attribute names and message fields, in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PRODUCT = "twl-pipeline"

# Raw layer (S3). Hive-style partitions so Athena/Glue can read it as a table.
RAW_PREFIX = "raw"
RAW_KEY_TEMPLATE = RAW_PREFIX + "/source={source}/type={type}/date={date}/{stamp}-{digest}.json"
RAW_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
RAW_KEY_HASH_CHARS = 16
# Unusable payloads are kept here, same layout, never enqueued.
QUARANTINE_PREFIX = "quarantine"
# The admin's own SQLite database (pipeline/stores/s3sqlite), in the same bucket; only
# the web role may read and write under this prefix (TWL_ADMIN_DB_KEY renames the object).
ADMIN_DB_PREFIX = "admin"
ADMIN_DB_KEY = f"{ADMIN_DB_PREFIX}/db.sqlite3"
# Read whole into the web function's memory: far above a few operators' data (~160 KB
# with 300 admin log entries), far below the 512 MB the function has.
ADMIN_DB_MAX_BYTES = 64 * 1024 * 1024

# SQS message contract.
MESSAGE_SCHEMA_VERSION = 1
SQS_BATCH_SIZE = 10

# Curated table (DynamoDB).
CURATED_PK = "id"
SOURCE_INDEX = "SourceIndex"
SOURCE_INDEX_PK = "source"
SOURCE_INDEX_SK = "captured_at"
# Newest-first listing by source and type without a Scan: partition "source#type".
TYPE_INDEX = "SourceTypeIndex"
TYPE_INDEX_PK = "source_type"
TYPE_INDEX_SK = "captured_at"
# Keys per BatchGetItem request and items per TransactWriteItems request (AWS limits).
BATCH_GET_LIMIT = 100
TRANSACT_LIMIT = 100

# Ledger table (DynamoDB): runs, per-feed latest state, message failures.
LEDGER_PK = "pk"
LEDGER_SK = "sk"
RUNS_INDEX = "RunsByTime"
RUNS_INDEX_PK = "kind"
RUNS_INDEX_SK = "started_at"
RUN_KIND = "run"
# Admin jobs (ledger table): one item per job the admin dispatched (``JOB#<job id>`` /
# ``JOB``), listed newest first on the runs index under a kind of their own (its sort
# key holds when the job was asked for). Each expires JOB_TTL after that (the TTL
# attribute, ``pipeline.stores.throttle.LEDGER_TTL_ATTRIBUTE``).
JOB_PK_PREFIX = "JOB#"
JOB_SK = "JOB"
JOB_KIND = "job"
JOB_TTL = timedelta(days=30)

# Aggregates (ledger table), changed in the same transaction as the records they count.
AGG_PK = "AGG"
AGG_TOTAL_SK = "TOTAL"
AGG_SOURCES_SK = "SOURCES"
AGG_MONTH_SK_PREFIX = "MONTH#"
TIMELINE_DAYS = 7
BY_DATE_DAYS = 28

# Raw object metadata (S3 user metadata), written by ingest and checked by processing.
RAW_META_SOURCE = "source"
RAW_META_TYPE = "type"
RAW_META_CAPTURED_AT = "captured-at"
RAW_META_HASH = "content-sha256"
RAW_META_RUN_ID = "run-id"
# A declared source's objects name the definition version that fetched them: processing
# and replay curate with that version.
RAW_META_DEFINITION_VERSION = "definition-version"
# A message's capturedAt must lie in [PRODUCT_EPOCH, now + CAPTURED_AT_MAX_AHEAD]: nothing
# was captured before the pipeline existed, and a clock a few minutes fast is all we allow.
PRODUCT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CAPTURED_AT_MAX_AHEAD = timedelta(minutes=5)

# What DynamoDB accepts in one item (its service quotas), checked before every write.
DYNAMO_ITEM_MAX_BYTES = 400 * 1024
# Room kept in each curated item for the bookkeeping the upsert adds (id, fingerprint,
# version, capture and processing times: ~300 bytes), so the check can run before it.
DYNAMO_BOOKKEEPING_BYTES = 1024
DYNAMO_NUMBER_DIGITS = 38
# Non-zero numbers: magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125,
# as the exponent of the leading digit.
DYNAMO_NUMBER_MIN_EXPONENT = -130
DYNAMO_NUMBER_MAX_EXPONENT = 125
DYNAMO_MAX_DEPTH = 32
# A raw item nested deeper than this is rejected even where only its curated fields are
# stored: the pages and API re-read raw items to show them.
RAW_ITEM_MAX_DEPTH = 64
DYNAMO_NAME_MAX_BYTES = 64 * 1024 - 1
DYNAMO_PARTITION_KEY_MAX_BYTES = 2048

# A message is dead-lettered after this many receives (the queue's redrive policy).
MAX_RECEIVE_COUNT = 3

# The API key scope that alone receives the fields a source declares personal.
PERSONAL_DATA_SCOPE = "personal-data"
API_KEY_SCOPES = (PERSONAL_DATA_SCOPE,)

# The worker's job entry point, as the web names it in its Event invocations
# (pipeline.services.jobs) and as the worker's gate lets it through (pipeline.handlers).
RUN_JOB_COMMAND = "pipeline.handlers.run_job"
