"""Property: after any sequence of ingests, redeliveries, out-of-order and racing
deliveries, the analytics counters equal a brute-force recount of the table."""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.deploy.provision import provision
from pipeline.selectors.analytics import analytics_get
from pipeline.services import upsert
from pipeline.services.process import process_message
from pipeline.services.recount import recount
from pipeline.stores import aws
from tests import factories
from tests.factories import put_raw

pytestmark = pytest.mark.django_db

DAYS = ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-15", "2026-11-27"]
PEOPLE = [str(uuid.UUID(int=n)) for n in range(1, 6)]

ingest_op = st.tuples(
    st.just("ingest"),
    st.sampled_from(["post", "person"]),
    st.lists(st.integers(1, 5), min_size=1, max_size=5, unique=True),  # which ids
    st.integers(0, 2),  # content version
    st.sampled_from(DAYS),
    st.integers(0, 23),  # hour
)
deliver_op = st.tuples(st.just("deliver"), st.integers(0, 50))
race_op = st.tuples(st.just("race"), st.integers(0, 50), st.integers(0, 50))
operations = st.lists(st.one_of(ingest_op, deliver_op, race_op), min_size=1, max_size=14)


def _payload(kind: str, ids: list[int], version: int):
    if kind == "post":
        return [{"userId": 1, "id": i, "title": f"t{i}v{version}", "body": "b"} for i in ids]
    people = []
    for i in ids:
        person = factories.person()
        person["login"]["uuid"] = PEOPLE[i - 1]
        person["email"] = f"v{version}@example.com"
        people.append(copy.deepcopy(person))
    return {
        "results": people,
        "info": {"seed": "s", "results": len(ids), "page": 1, "version": "1.4"},
    }


def _race(config, first, second, monkeypatch_states):
    """Deliver ``first``, letting ``second`` commit between its read and its write."""
    real = upsert.states_get
    fired = {"done": False}

    def interleaved(ids, *, config):
        states = real(ids, config=config)
        if not fired["done"]:
            fired["done"] = True
            process_message(second, config=config)
        return states

    monkeypatch_states(interleaved)
    try:
        process_message(first, config=config)
    finally:
        monkeypatch_states(real)


def _run(config, ops, monkeypatch_states) -> list:
    sent = []
    for op in ops:
        if op[0] == "ingest":
            _, kind, ids, version, day, hour = op
            source, type_ = (
                ("jsonplaceholder", "post") if kind == "post" else ("randomuser", "user")
            )
            captured = f"{day}T{hour:02d}:00:00+00:00"
            sent.append(
                put_raw(config, source, type_, _payload(kind, ids, version), captured_at=captured)
            )
        elif sent and op[0] == "deliver":
            process_message(sent[op[1] % len(sent)], config=config)
        elif sent:
            _race(config, sent[op[1] % len(sent)], sent[op[2] % len(sent)], monkeypatch_states)
    return sent


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_counters_always_equal_a_recount_of_the_table(config, ops):
    def set_states(fn):
        upsert.states_get = fn

    aws.reset_clients()
    with mock_aws():
        provision(config=config)
        sent = _run(config, ops, set_states)
        for message in sent:  # every message delivered at least once
            process_message(message, config=config)
        report = recount(config=config, fix=False)
        assert report.drift == []
        summary = analytics_get(config=config)["summary"]
        assert summary["total_records"] == report.records
    aws.reset_clients()
