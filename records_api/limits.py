"""Size limits of the public surface (pages and API), in one place.

Every page and response must stay small whatever a source sent: Lambda answers at
most 6 MB, the web function has 512 MB, and a 61 KB raw item of nested lists
pretty-prints to tens of MB. Byte counts are UTF-8 bytes of what is sent (HTML-escaped
where a page shows the text).
"""

from __future__ import annotations

KB = 1024
MB = 1024 * KB

# The raw item on the record page: pretty JSON up to this many bytes, then a link.
RAW_PREVIEW_BYTES = 256 * KB
# The curated fields table: each value (and name) up to this, all of them up to the total.
FIELD_PREVIEW_BYTES = 4 * KB
FIELDS_PREVIEW_BYTES = 64 * KB
# The browsable API shows at most this much of a response; ?format=json has it whole.
BROWSABLE_CONTENT_BYTES = 256 * KB
# GET /api/records/{id}/raw answers an item up to this size (compact JSON), else 422.
RAW_ITEM_MAX_BYTES = 2 * MB
