"""Constants for key layouts, attribute names and message fields, in one place."""

from __future__ import annotations

PRODUCT = "twl-pipeline"

# Raw layer (S3). Hive-style partitions so Athena/Glue can read it as a table.
RAW_PREFIX = "raw"
RAW_KEY_TEMPLATE = RAW_PREFIX + "/source={source}/type={type}/date={date}/{stamp}-{digest}.json"
RAW_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
RAW_KEY_HASH_CHARS = 16
# Unusable payloads are kept here, same layout, never enqueued.
QUARANTINE_PREFIX = "quarantine"

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

# Aggregates (ledger table), changed in the same transaction as the records they count.
AGG_PK = "AGG"
AGG_TOTAL_SK = "TOTAL"
AGG_SOURCES_SK = "SOURCES"
AGG_MONTH_SK_PREFIX = "MONTH#"
TIMELINE_DAYS = 7
BY_DATE_DAYS = 28
