"""Property-based API testing from our own OpenAPI schema: no 5xx, no schema violations.

Beyond the generated cases, every operation is sent the shapes a hostile client
sends: over 1,000 query parameters (400) and every method it does not list (405).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from pipeline.core.clock import iso, utc_now
from pipeline.sources import feeds
from pipeline.stores.ledger import feed_success_record
from twl_site.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(populated):
    """Data in every index partition and fresh sources, so /api/health answers 200."""
    for feed in feeds():
        feed_success_record(
            source=feed.source, type_=feed.type, at=iso(utc_now()), config=populated
        )
    return populated


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_and_never_fails_with_5xx(case, healthy):
    # A cursor (and the seed's lastKey) is a signed token only our pages hand out; a
    # generated one is rightly refused with 400, so "valid-looking data must be
    # accepted" cannot hold for it.
    excluded = [positive_data_acceptance] if {"cursor", "lastKey"} & set(case.query or {}) else []
    case.call_and_validate(excluded_checks=excluded)


# --- every operation, whatever the shape of the request ----------------------------------

OPERATIONS = [result.ok() for result in schema.get_all_operations()]
TOO_MANY_PARAMETERS = {f"p{i}": "1" for i in range(1001)}
RECORD = "jsonplaceholder-post-1"


def case_for(operation, **kwargs):
    """A case for ``operation`` naming a record that exists, if its path names one."""
    path_parameters = {"record_id": RECORD} if "{record_id}" in operation.path else {}
    return operation.Case(path_parameters=path_parameters, **kwargs)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_operation_answers_1001_query_parameters_with_a_400_json_error(
    operation, config, moto_aws
):
    # Refused before the view: no data needed (and an AWS call would fail the test).
    response = case_for(operation, query=TOO_MANY_PARAMETERS).call()
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "too many query or form parameters" in response.json()["detail"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_operation_refuses_other_methods_with_405_and_allow(
    operation, method, config, moto_aws
):
    response = case_for(operation, method=method).call()
    assert response.status_code == 405
    assert response.headers["allow"] == ["GET, HEAD, OPTIONS"]
    assert response.json()["error"] == "method_not_allowed"
