"""One module builds every AWS client; one setting points them all at an emulator."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from pipeline.stores import aws

ROOT = Path(__file__).resolve().parent.parent


def test_endpoint_setting_points_every_client_at_the_emulator(config):
    local = dataclasses.replace(config, aws_endpoint_url="http://127.0.0.1:4566")
    aws.reset_clients()
    try:
        for client in (aws.s3(local), aws.sqs(local), aws.dynamodb(local)):
            assert client.meta.endpoint_url == "http://127.0.0.1:4566"
            assert client.meta.region_name == config.aws_region
    finally:
        aws.reset_clients()


def test_without_endpoint_clients_talk_to_aws(config):
    aws.reset_clients()
    assert aws.dynamodb(config).meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    aws.reset_clients()


def test_clients_are_cached_per_service_and_endpoint(config):
    aws.reset_clients()
    assert aws.s3(config) is aws.s3(config)
    other = dataclasses.replace(config, aws_endpoint_url="http://127.0.0.1:9")
    assert aws.s3(other) is not aws.s3(config)
    aws.reset_clients()


def test_no_other_module_creates_boto3_clients():
    offenders = subprocess.run(
        [
            "grep",
            "-rlE",
            r"boto3\.(client|resource|session)",
            "pipeline",
            "records_api",
            "twl_site",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert offenders == ["pipeline/stores/aws.py"]


def test_importing_the_pipeline_creates_no_client():
    script = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='twl_site.settings';"
        "import django; django.setup();"
        "import pipeline.handlers, pipeline.services.ingest, pipeline.services.process;"
        "import pipeline.local.poller, pipeline.admin, records_api.views;"
        "from pipeline.stores import aws; print(aws._build.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "0", out.stderr
