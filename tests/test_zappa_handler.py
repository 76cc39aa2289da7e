"""Through Zappa's own handler, offline: schedule, SQS, manage, API Gateway v1/v2, the package.

The handler reads the ``zappa_settings.py`` that ``zappa package`` writes into the zip;
here it is rendered by the same function (``ZappaCLI.get_zappa_settings_string``) from
the real zappa_settings.json, and the package test checks the zip holds exactly that.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from django.db.backends.base.base import BaseDatabaseWrapper
from zappa.core import Zappa
from zappa.handler import LambdaHandler

from pipeline.core.config import get_config
from pipeline.deploy import zappa_steps
from pipeline.deploy.provision import provision
from pipeline.deploy.zappa_callbacks import PACKAGED_AWS_SERVICES, prepare_stage
from pipeline.local.poller import LocalContext
from pipeline.services.process import process_message
from pipeline.stores import aws
from tests import factories
from tests.conftest import use_stage
from tests.factories import put_raw
from tests.test_zappa_settings import KEEP_WARM_FUNCTION, load, zappa_schedule

SAMPLES = Path(__file__).parent / "samples"
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
SECRET = "remote-env-secret-" + "x" * 40
MiB = 1024 * 1024
LAMBDA_ZIPPED_LIMIT = 50 * MiB  # direct upload
# Our own budget: room under the direct-upload limit as dependencies grow (issue 12).
PACKAGE_ZIPPED_BUDGET = 40 * MiB
LAMBDA_UNZIPPED_LIMIT = 250 * MiB


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Zappa's handler writes the stage's variables into os.environ and sets the root
    logger's level; put both back afterwards."""
    saved, level = dict(os.environ), logging.getLogger().level
    yield
    os.environ.clear()
    os.environ.update(saved)
    logging.getLogger().setLevel(level)


@pytest.fixture
def dev_stack(config, moto_aws, settings):
    """The dev stage's resources on in-process moto, named as zappa_settings.json names them."""
    use_stage(settings, "dev")
    env = load("dev").environment_variables
    settings.ALLOWED_HOSTS = env["DJANGO_ALLOWED_HOSTS"].split(",")
    cfg = get_config()
    provision(config=cfg)
    # The secrets file Zappa's handler reads at start (remote_env).
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="twl-pipeline-zappa-deployments-dev")
    body = json.dumps({"DJANGO_SECRET_KEY": SECRET}).encode()
    s3.put_object(
        Bucket="twl-pipeline-zappa-deployments-dev", Key="twl-pipeline-dev-secrets.json", Body=body
    )
    return cfg


def _zappa_handler(stage: str, tmp_path: Path, monkeypatch) -> LambdaHandler:
    """A fresh LambdaHandler reading the stage's generated zappa_settings module."""
    monkeypatch.setenv(zappa_steps.ACCOUNT_ENV, "123456789012")  # moto's account
    cli = load(stage)
    prepare_stage(cli)
    module = f"zappa_settings_{stage}"
    (tmp_path / f"{module}.py").write_text(cli.get_zappa_settings_string())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    # A singleton per process, like a Lambda container; each test is a cold start.
    monkeypatch.setattr(LambdaHandler, "_LambdaHandler__instance", None)
    return LambdaHandler(settings_name=module)


@pytest.fixture
def web(dev_stack, tmp_path, monkeypatch, restore_environ) -> LambdaHandler:
    return _zappa_handler("dev", tmp_path, monkeypatch)


@pytest.fixture
def worker(dev_stack, tmp_path, monkeypatch, restore_environ) -> LambdaHandler:
    return _zappa_handler("dev_worker", tmp_path, monkeypatch)


def _scheduled_event() -> dict[str, Any]:
    """The sample event, its rule named the way Zappa names the worker's schedule rule."""
    cli = load("dev_worker")
    [schedule] = [e for e in cli.stage_config["events"] if "expression" in e]
    return _rule_event(schedule, cli.lambda_name)


def _rule_event(schedule: dict[str, Any], lambda_name: str) -> dict[str, Any]:
    """The sample scheduled event, from the rule Zappa creates for ``schedule``."""
    event = json.loads((SAMPLES / "scheduled_event.json").read_text())
    namer = Zappa(load_credentials=False, aws_region="us-east-1")
    rule = namer.get_scheduled_event_name(schedule, schedule["function"], lambda_name)
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"]
    return event


def test_a_keep_warm_call_returns_at_once_without_touching_aws_or_the_database(web, monkeypatch):
    """The web handler is built (the cold start); Zappa's keep-warm rule then finds it warm."""
    [keep_warm] = [e for e in zappa_schedule("dev") if e["function"] == KEEP_WARM_FUNCTION]
    event = _rule_event(keep_warm, load("dev").lambda_name)
    touched: list[str] = []

    def aws_call(client: BaseClient, operation: str, params: Any) -> None:
        touched.append(f"{client.meta.service_model.service_name}.{operation}")
        raise AssertionError(operation)

    def db_connection(connection: BaseDatabaseWrapper) -> None:
        touched.append(f"database {connection.alias}")
        raise AssertionError(connection.alias)

    monkeypatch.setattr(BaseClient, "_make_api_call", aws_call)
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", db_connection)
    # What Lambda calls: the module's lambda_handler, reusing the container's handler.
    assert LambdaHandler.lambda_handler(event, LocalContext()) is None
    assert touched == []


def _sqs_event(messages: list[tuple[str, str]], queue_arn: str) -> dict[str, Any]:
    template = json.loads((SAMPLES / "sqs_event.json").read_text())["Records"][0]
    records = []
    for message_id, body in messages:
        record = copy.deepcopy(template)
        record.update(messageId=message_id, body=body, eventSourceARN=queue_arn)
        records.append(record)
    return {"Records": records}


def test_handler_loads_the_stage_environment_and_the_remote_env_secret(web):
    assert os.environ["TWL_STAGE"] == "dev"
    assert os.environ["DJANGO_DEBUG"] == "false"
    assert os.environ["DJANGO_SECRET_KEY"] == SECRET  # from the remote_env object in S3
    assert web.settings.DEBUG is False


def test_scheduled_event_runs_ingestion_through_zappas_handler(worker, dev_stack, sources):
    reply = worker.handler(_scheduled_event(), LocalContext())
    assert reply["status"] == "succeeded"
    assert {(f["source"], f["type"], f["outcome"]) for f in reply["feeds"]} == {
        ("jsonplaceholder", "post", "stored"),
        ("jsonplaceholder", "comment", "stored"),
        ("jsonplaceholder", "user", "stored"),
        ("randomuser", "user", "stored"),
    }
    sqs = aws.sqs(dev_stack)
    url = sqs.get_queue_url(QueueName=dev_stack.queue_name)["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "4"


def test_sqs_event_from_the_stages_queue_returns_only_the_failed_message(worker, dev_stack):
    [queue_arn] = zappa_steps.sqs_queue_arns(
        zappa_steps.with_account(load("dev_worker").stage_config["events"], "123456789012")
    )
    good = put_raw(dev_stack, "jsonplaceholder", "post", factories.posts(3))
    event = _sqs_event([("good-1", good.to_json()), ("bad-1", '{"schemaVersion": 99}')], queue_arn)
    reply = worker.handler(event, LocalContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    table = aws.dynamodb(dev_stack)
    item = table.get_item(
        TableName=dev_stack.curated_table, Key={"id": {"S": "jsonplaceholder-post-1"}}
    )
    assert "Item" in item


def test_an_sqs_event_from_an_unknown_queue_is_not_routed(worker, dev_stack, caplog):
    event = _sqs_event([("m-1", "{}")], "arn:aws:sqs:us-east-1:123456789012:someone-elses-queue")
    assert worker.handler(event, LocalContext()) is None
    assert "Cannot find a function" in caplog.text


@pytest.mark.django_db
def test_manage_event_runs_a_management_command(web, capsys):
    assert web.handler({"manage": "check"}, LocalContext()) == {}
    assert "System check identified no issues" in capsys.readouterr().out


def _v1(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {"stage": "dev", "path": f"/dev{path}", "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }


def _v2(path: str, query: str = "") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"/dev{path}",
        "rawQueryString": query,
        "headers": {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-port": "443"},
        "requestContext": {
            "domainName": HOST,
            "stage": "dev",
            "http": {"method": "GET", "path": f"/dev{path}", "protocol": "HTTP/1.1"},
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def records(dev_stack) -> None:
    for source, type_, payload in (
        ("jsonplaceholder", "post", factories.posts(3)),
        ("randomuser", "user", factories.people(2)),
    ):
        process_message(put_raw(dev_stack, source, type_, payload), config=dev_stack)


@pytest.mark.django_db
@pytest.mark.parametrize("shape", [_v1, _v2], ids=["rest-api-v1", "http-api-v2"])
def test_api_gateway_serves_the_records_api(web, records, shape):
    reply = web.handler(shape("/api/records", {"limit": "2"} if shape is _v1 else "limit=2"), None)
    assert reply["statusCode"] == 200, reply.get("body")
    body = json.loads(reply["body"])
    assert len(body["results"]) == 2 and body["previous"] is None
    # Links carry API Gateway's stage prefix: the handler sets SCRIPT_NAME=/dev.
    assert body["next"].startswith(f"https://{HOST}/dev/api/records?")


@pytest.mark.django_db
@pytest.mark.parametrize("shape", [_v1, _v2], ids=["rest-api-v1", "http-api-v2"])
def test_api_gateway_serves_the_dashboard(web, records, shape):
    reply = web.handler(shape("/"), None)
    assert reply["statusCode"] == 200, reply.get("body")
    assert re.search(r'data-testid="total-records">5<', reply["body"])


# --- the package ---------------------------------------------------------------------------


@pytest.fixture
def package(dev_package) -> Path:
    """The dev zip as the docs build it, ``make package STAGE=dev``, once per session."""
    return dev_package


def test_zappa_package_builds_offline_with_the_handler_and_its_settings_at_the_root(package):
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        generated = archive.read("zappa_settings.py").decode()
    assert {"handler.py", "zappa_settings.py", "django_zappa_app.py", "manage.py"} <= names
    cli = load("dev")
    prepare_stage(cli)
    assert generated == cli.get_zappa_settings_string()


def test_package_holds_no_tests_dev_tools_or_local_state(package):
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    forbidden = {"tests", "moto", "pytest", "_pytest", "playwright", "schemathesis", "hypothesis"}
    forbidden |= {"responses", "docs", "bench", "artifacts", "scripts", "troposphere", "pip"}
    assert not tops & forbidden
    assert not [n for n in names if n.startswith("pipeline/local/") or n.endswith(".sqlite3")]
    assert not [n for n in names if n.split("/")[0].endswith(".dist-info") and "moto" in n]
    # botocore imports botocore.docs: a blanket "docs" exclusion once removed it.
    assert "botocore/docs/docstring.py" in names


def test_package_fits_its_40_mib_budget_well_under_lambdas_direct_upload_limit(package):
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    zipped = package.stat().st_size
    print(f"\npackage: {zipped / MiB:.1f} MiB zipped, {unzipped / MiB:.1f} MiB unzipped")
    assert zipped < PACKAGE_ZIPPED_BUDGET < LAMBDA_ZIPPED_LIMIT
    assert unzipped < LAMBDA_UNZIPPED_LIMIT


def test_package_modules_carry_hash_based_bytecode(package):
    with zipfile.ZipFile(package) as archive:
        pyc = archive.read("django/__pycache__/__init__.cpython-311.pyc")
        stale = [n for n in archive.namelist() if n.endswith(".pyc") and "__pycache__" not in n]
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # PEP 552: hash-based, unchecked
    assert stale == []


def _run_in_package(package: Path, tmp_path: Path, body: str) -> str:
    """Run ``body`` with only the unzipped package on sys.path, as in Lambda's /var/task."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path)
    script = f"import json, sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport handler\n" + body
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SECRET_KEY": SECRET,
        "AWS_LAMBDA_FUNCTION_NAME": "twl-pipeline-dev",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # The remote_env read fails at once (nothing listens there) instead of leaving the host.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_package_alone_serves_a_request_without_the_dev_environment(package, tmp_path):
    body = (
        f"event = json.loads({json.dumps(json.dumps(_v1('/api/')))})\n"
        "reply = handler.lambda_handler(event, None)\n"
        "print(reply['statusCode'], sorted(m for m in sys.modules if m.split('.')[0] in "
        "('moto', 'pytest', 'click', 'troposphere')))\n"
    )
    assert _run_in_package(package, tmp_path, body) == "200 []"


def test_collected_static_files_are_served_under_the_stage_prefix(package, tmp_path):
    """The page links /dev/static/…(hashed name); that URL, through API Gateway, is the file."""
    body = (
        f"page = handler.lambda_handler(json.loads({json.dumps(json.dumps(_v1('/')))}), None)\n"
        "import re\n"
        "pattern = r'href=.(/dev/static/css/site[.][0-9a-f]+[.]css).'\n"
        "found = re.search(pattern, page['body'])\n"
        "assert found, page['body'][:1500]\n"
        "href = found.group(1)\n"
        f"event = json.loads({json.dumps(json.dumps(_v1('/PATH')))})\n"
        "path = href[len('/dev'):]\n"
        "event.update(path=path, pathParameters={'proxy': path.lstrip('/')})\n"
        "event['requestContext']['path'] = href\n"
        "css = handler.lambda_handler(event, None)\n"
        "print(page['statusCode'], css['statusCode'], '--accent' in css['body'])\n"
    )
    # The dashboard itself answers 503 here (no AWS), still in the site's frame.
    assert _run_in_package(package, tmp_path, body) == "503 200 True"


def test_the_package_alone_serves_the_api_docs_and_their_assets_gzipped_when_accepted(
    package, tmp_path
):
    """Every URL the page links loads: the init script and the static files, packaged
    under their hashed names only; each script and stylesheet also has a .gz whitenoise
    sends when the client accepts gzip."""
    body = (
        f"template = json.loads({json.dumps(json.dumps(_v1('/PATH')))})\n"
        "import base64, copy, gzip, html, re\n"
        "def get(path, **headers):\n"
        "    event = copy.deepcopy(template)\n"
        "    path, _, query = path.partition('?')\n"
        "    event.update(path=path, pathParameters={'proxy': path.lstrip('/')})\n"
        "    if query:\n"
        "        pairs = [pair.partition('=')[::2] for pair in query.split('&')]\n"
        "        event['queryStringParameters'] = dict(pairs)\n"
        "        event['multiValueQueryStringParameters'] = {k: [v] for k, v in pairs}\n"
        "    event['requestContext']['path'] = '/dev' + path\n"
        "    event['headers'].update(headers)\n"
        "    event['multiValueHeaders'].update({k: [v] for k, v in headers.items()})\n"
        "    reply = handler.lambda_handler(event, None)\n"
        "    raw = reply['body'].encode()\n"
        "    if reply.get('isBase64Encoded'):\n"
        "        raw = base64.b64decode(raw)\n"
        "    return reply['statusCode'], reply['headers'].get('Content-Encoding'), raw\n"
        "status, _, page = get('/api/docs/')\n"
        'links = re.findall(r\'(?:src|href)="/dev(/[^"]+)"\', page.decode())\n'
        "assets = [html.unescape(link) for link in links]\n"
        "result = {'page': status, 'assets': {}}\n"
        "for path in assets:\n"
        "    plain = get(path)\n"
        "    zipped = get(path, **{'Accept-Encoding': 'gzip'})\n"
        "    same = zipped[1] != 'gzip' or gzip.decompress(zipped[2]) == plain[2]\n"
        "    result['assets'][path] = [plain[0], zipped[0], zipped[1], same]\n"
        "print(json.dumps(result))\n"
    )
    result = json.loads(_run_in_package(package, tmp_path, body))
    assert result["page"] == 200
    assets = result["assets"]
    assert "/api/docs/?script=" in assets  # Swagger UI's init script
    assert [p for p in assets if re.search(r"/swagger-ui-bundle[.][0-9a-f]{12}[.]js$", p)]
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert "staticfiles/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" not in names
    for path, (plain, zipped, encoding, same) in assets.items():
        assert (plain, zipped, same) == (200, 200, True), path
        if path.endswith((".js", ".css")):
            assert encoding == "gzip", path


def test_the_package_alone_builds_a_client_for_each_aws_service_it_keeps_and_no_other(
    package, tmp_path
):
    """botocore's other service models are left out (15 MiB); see PACKAGED_AWS_SERVICES."""
    body = (
        "import boto3, botocore.exceptions\n"
        "import zappa.asynchronous  # builds its lambda, sns, sts and dynamodb clients\n"
        "session = boto3.Session(region_name='us-east-1')\n"
        f"kept = {sorted(PACKAGED_AWS_SERVICES)!r}\n"
        "built = [session.client(name).meta.service_model.service_name for name in kept]\n"
        "session.resource('s3'), session.resource('dynamodb')\n"
        "try:\n"
        "    session.client('ec2')\n"
        "    left_out = []\n"
        "except botocore.exceptions.UnknownServiceError:\n"
        "    left_out = ['ec2']\n"
        "print(json.dumps([built == kept, left_out]))\n"
    )
    assert json.loads(_run_in_package(package, tmp_path, body)) == [True, ["ec2"]]
