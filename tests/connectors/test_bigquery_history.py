"""The BigQuery history store against `responses` payloads shaped like the BigQuery v2 REST
API: load jobs into a date's partition, parameterised and capped queries, errors."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest
import responses

bigquery = pytest.importorskip("google.cloud.bigquery")
from google.auth.credentials import AnonymousCredentials  # noqa: E402

from cs_sync.connectors.bigquery_history import BigQueryHistory  # noqa: E402
from cs_sync.connectors.output_settings import HistoryConfig  # noqa: E402
from cs_sync.errors import AuthError, CsSyncError  # noqa: E402
from cs_sync.history import RunRecord, snapshot_rows  # noqa: E402

API = "https://bigquery.googleapis.com"
UPLOAD = re.compile(rf"{API}/upload/bigquery/v2/projects/acme-cs/jobs\?uploadType=multipart")
QUERIES = f"{API}/bigquery/v2/projects/acme-cs/queries"
TABLES = f"{API}/bigquery/v2/projects/acme-cs/datasets/cs_sync/tables"


def created_table(request: Any) -> tuple[int, dict[str, str], str]:
    """tables.insert: the table as asked for."""
    return 200, {"Content-Type": "application/json"}, request.body


def table_resource(request: Any) -> tuple[int, dict[str, str], str]:
    """tables.get: a table whose last change is the same at every look."""
    name = request.url.split("?")[0].rsplit("/", 1)[1]
    table = {
        "tableReference": {"projectId": "acme-cs", "datasetId": "cs_sync", "tableId": name},
        "type": "TABLE",
        "lastModifiedTime": "1764000000000",
        "numRows": "30",
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(table)


DAY = date(2026, 11, 24)
SETTINGS = HistoryConfig(
    path=None, backend="bigquery", project="acme-cs", dataset="cs_sync", location="asia-northeast1"
)


@pytest.fixture
def store() -> BigQueryHistory:
    client = bigquery.Client(
        project="acme-cs", credentials=AnonymousCredentials(), location="asia-northeast1"
    )
    return BigQueryHistory(SETTINGS, client)


def done_job(request: Any) -> tuple[int, dict[str, str], str]:
    """jobs.insert (multipart upload) answering with the job resource, already DONE."""
    metadata = json.loads(_parts(request)[0])
    job = {
        "kind": "bigquery#job",
        "id": f"acme-cs:asia-northeast1.{metadata['jobReference']['jobId']}",
        "jobReference": metadata["jobReference"],
        "configuration": metadata["configuration"],
        "status": {"state": "DONE"},
        "statistics": {"creationTime": "1764000000000", "load": {"outputRows": "2"}},
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(job)


def _parts(request: Any) -> list[bytes]:
    """The two parts of a multipart/related upload: job metadata, then the data."""
    content_type = request.headers["Content-Type"]
    if isinstance(content_type, bytes):
        content_type = content_type.decode()
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1)
    chunks = request.body.split(b"--" + boundary.encode())[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for chunk in chunks]


def query_response(fields: list[dict[str, str]], rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "kind": "bigquery#queryResponse",
        "schema": {"fields": [{**f, "mode": "NULLABLE"} for f in fields]},
        "jobReference": {"projectId": "acme-cs", "jobId": "job_q1", "location": "asia-northeast1"},
        "totalRows": str(len(rows)),
        "rows": [{"f": [{"v": v} for v in row]} for row in rows],
        "totalBytesProcessed": "1024",
        "jobComplete": True,
        "cacheHit": False,
    }


def error_body(code: int, reason: str, message: str, status: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }


def scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["001000000000001AAA", "001000000000002AAA"],
            "name": ['=HYPERLINK("http://x","y")', "ベータ株式会社"],
            "score": [81.25, None],
            "grade": ["A", None],
            "phase": ["Adoption", "Onboarding"],
            "phase_delayed": [False, True],
            "next_action_date": [pd.NaT, pd.Timestamp("2026-12-01")],
            "active_ratio": [0.5, float("nan")],
        }
    )


@responses.activate
def test_a_date_goes_to_its_partition_with_truncate(store: BigQueryHistory) -> None:
    responses.add_callback(responses.POST, UPLOAD, callback=done_job)
    responses.add_callback(responses.POST, TABLES, callback=created_table)
    rows = snapshot_rows(scored(), ["active_ratio"], "cfg123", DAY)
    kpis = pd.DataFrame(
        {"date": [DAY.isoformat()], "metric": ["accounts"], "dimension": ["all"], "value": [2.0]}
    )
    run = RunRecord(
        "r1",
        "run",
        DAY,
        datetime(2026, 11, 24, 7),
        datetime(2026, 11, 24, 7, 1),
        "ok",
        "cfg123",
        accounts=2,
    )
    store.write_date(DAY, rows, kpis, run)
    calls = responses.calls
    creates = [json.loads(c.request.body) for c in calls if c.request.url.startswith(TABLES)]
    uploads = [c for c in responses.calls if "upload/bigquery" in c.request.url]
    assert len(uploads) == 3  # accounts, KPIs, then the run record (the checkpoint)
    # each table is made before its first load, partitioned and clustered, once per run
    assert [c["tableReference"]["tableId"] for c in creates] == [
        "account_history",
        "kpi_history",
        "runs",
    ]
    assert creates[0]["timePartitioning"] == {"type": "DAY", "field": "as_of"}
    assert creates[0]["clustering"] == {"fields": ["account_id"]}
    store.record_run(run)
    assert sum(c.request.url.startswith(TABLES) for c in responses.calls) == 3
    loads = [_parts(call.request) for call in uploads]
    configs = [json.loads(parts[0])["configuration"]["load"] for parts in loads]
    tables = [c["destinationTable"]["tableId"] for c in configs]
    assert tables == ["account_history$20261124", "kpi_history$20261124", "runs"]
    assert [c["writeDisposition"] for c in configs] == [
        "WRITE_TRUNCATE",
        "WRITE_TRUNCATE",
        "WRITE_APPEND",
    ]
    first = configs[0]
    assert first["timePartitioning"] == {"type": "DAY", "field": "as_of"}
    assert first["clustering"] == {"fields": ["account_id"]}
    assert first["sourceFormat"] == "NEWLINE_DELIMITED_JSON"
    types = {f["name"]: f["type"] for f in first["schema"]["fields"]}
    assert (types["as_of"], types["score"], types["phase_delayed"]) == ("DATE", "FLOAT64", "BOOL")
    lines = [json.loads(line) for line in loads[0][1].decode("utf-8").splitlines()]
    assert lines[0]["name"] == '=HYPERLINK("http://x","y")'  # data, never a formula
    assert lines[1]["name"] == "ベータ株式会社"
    assert (lines[0]["as_of"], lines[1]["next_action_date"]) == ("2026-11-24", "2026-12-01")
    assert lines[1]["score"] is None and lines[0]["next_action_date"] is None
    assert json.loads(lines[0]["measures"]) == {"active_ratio": 0.5}
    run_line = json.loads(loads[2][1])
    assert run_line["started_at"] == "2026-11-24 07:00:00.000000"


@responses.activate
def test_queries_are_parameterised_capped_and_typed(store: BigQueryHistory) -> None:
    responses.add(
        responses.POST,
        QUERIES,
        json=query_response([{"name": "latest", "type": "DATE"}], [["2026-11-17"]]),
    )
    responses.add(
        responses.POST,
        QUERIES,
        json=query_response(
            [
                {"name": "as_of", "type": "DATE"},
                {"name": "account_id", "type": "STRING"},
                {"name": "score", "type": "FLOAT"},
                {"name": "grade", "type": "STRING"},
                {"name": "phase_delayed", "type": "BOOLEAN"},
            ],
            [["2026-11-17", "001000000000001AAA", "72.5", "B", "true"]],
        ),
    )
    previous = store.latest_before(DAY)
    assert previous.loc[0, "score"] == 72.5 and bool(previous.loc[0, "phase_delayed"])
    assert previous.loc[0, "as_of"] == pd.Timestamp("2026-11-17")
    first, second = (json.loads(call.request.body) for call in responses.calls)
    assert first["maximumBytesBilled"] == "10000000000" and first["useLegacySql"] is False
    assert "WHERE as_of < @as_of" in first["query"]
    assert first["queryParameters"] == [
        {
            "name": "as_of",
            "parameterType": {"type": "DATE"},
            "parameterValue": {"value": "2026-11-24"},
        }
    ]
    assert "WHERE as_of = @as_of" in second["query"]  # one partition read
    assert second["queryParameters"][0]["parameterValue"]["value"] == "2026-11-17"


@responses.activate
def test_no_table_yet_means_no_history(store: BigQueryHistory) -> None:
    message = "Not found: Table acme-cs:cs_sync.runs was not found in location asia-northeast1"
    responses.add(
        responses.POST, QUERIES, status=404, json=error_body(404, "notFound", message, "NOT_FOUND")
    )
    assert store.backfilled("cfg123") == set()
    assert store.runs().empty and list(store.runs().columns)[:2] == ["run_id", "kind"]


@responses.activate
def test_errors_name_the_fix(store: BigQueryHistory) -> None:
    responses.add(
        responses.POST,
        QUERIES,
        status=403,
        json=error_body(
            403,
            "accessDenied",
            "Access Denied: Project acme-cs: User does not have bigquery.jobs.create permission",
            "PERMISSION_DENIED",
        ),
    )
    with pytest.raises(AuthError, match="BigQuery Job User"):
        store.dates()
    responses.replace(
        responses.POST,
        QUERIES,
        status=400,
        json=error_body(
            400,
            "bytesBilledLimitExceeded",
            "Query exceeded limit for bytes billed: 10000000000. 20971520000 or higher required.",
            "INVALID_ARGUMENT",
        ),
    )
    with pytest.raises(CsSyncError, match="maximum_bytes_billed"):
        store.kpis()
    responses.replace(
        responses.POST,
        QUERIES,
        status=404,
        json=error_body(404, "notFound", "Not found: Dataset acme-cs:cs_sync", "NOT_FOUND"),
    )
    with pytest.raises(CsSyncError, match="the dataset must exist"):
        store.dates()


@responses.activate
def test_a_failed_load_job_is_reported(store: BigQueryHistory) -> None:
    def failed(request: Any) -> tuple[int, dict[str, str], str]:
        status, headers, body = done_job(request)
        job = json.loads(body)
        problem = {
            "reason": "invalid",
            "message": "Error while reading data, error message: JSON parsing error in row 1",
        }
        job["status"] = {"state": "DONE", "errorResult": problem, "errors": [problem]}
        return status, headers, json.dumps(job)

    responses.add_callback(responses.POST, UPLOAD, callback=failed)
    responses.add_callback(responses.POST, TABLES, callback=created_table)
    run = RunRecord("r1", "run", DAY, datetime(2026, 11, 24), datetime(2026, 11, 24), "ok", "c")
    with pytest.raises(CsSyncError, match="writing acme-cs.cs_sync.runs.*JSON parsing error"):
        store.record_run(run)


def test_a_run_keeps_its_history_in_bigquery(tmp_path: Any, capsys: Any) -> None:
    """A whole run against the sandbox org (real HTTP), with its history going to BigQuery
    (the REST API mocked): a service-account token exchange, then one load per table."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from cs_sync.cli import main
    from cs_sync.demo import prepare_demo
    from tests.conftest import AS_OF, served

    folder = prepare_demo(tmp_path / "demo", 30, AS_OF, port=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    service_account = {
        "type": "service_account",
        "project_id": "acme-cs",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "cs-sync@acme-cs.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    (tmp_path / "sa.json").write_text(json.dumps(service_account), encoding="utf-8")
    with open(folder.config_path, "a", encoding="utf-8") as config:
        config.write(
            '\n[history]\nbackend = "bigquery"\nproject = "acme-cs"\ndataset = "cs_sync"\n'
            f'location = "asia-northeast1"\ncredentials_file = "{tmp_path / "sa.json"}"\n'
        )
    with served(folder), responses.RequestsMock() as mock:
        mock.add_passthru("http://127.0.0.1")
        mock.add(
            responses.POST,
            "https://oauth2.googleapis.com/token",
            json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"},
        )
        mock.add_callback(responses.POST, UPLOAD, callback=done_job)
        mock.add_callback(responses.POST, TABLES, callback=created_table)
        mock.add_callback(responses.GET, re.compile(rf"{TABLES}/\w+"), callback=table_resource)
        mock.add(  # the monthly KPIs read the history back: nothing before today
            responses.POST,
            QUERIES,
            json=query_response([{"name": "as_of", "type": "DATE"}], []),
        )
        run = ["run", "--config", str(folder.config_path), "--json", "--as-of", "2026-11-24"]
        code = main(run)
        result = json.loads(capsys.readouterr().out)
        uploads = [c for c in mock.calls if "upload/bigquery" in c.request.url]
        first_calls = len(mock.calls)
        # run again: the tables as the first run left them (their last change unmoved), and
        # what the local copy records they hold unchanged, so none is sent again
        again = main(run)
        rerun = json.loads(capsys.readouterr().out)
        sent_again = [
            json.loads(_parts(c.request)[0])["configuration"]["load"]["destinationTable"]["tableId"]
            for c in list(mock.calls)[first_calls:]
            if "upload/bigquery" in c.request.url
        ]
    assert code == 0 and result["history"] == "bigquery:acme-cs.cs_sync", result["errors"]
    assert again == 0 and not rerun["errors"], rerun["errors"]
    assert "account_history$20261124" not in sent_again and "accounts" not in sent_again
    assert "runs" in sent_again, sent_again
    tables = [
        json.loads(_parts(u.request)[0])["configuration"]["load"]["destinationTable"]["tableId"]
        for u in uploads
    ]
    assert tables == [
        "alert_log",  # the run's alerts queued before its writes (the demo posts to Chatter)
        "alert_log",  # and what became of them after
        "account_history$20261124",
        "sponsor_history$20261124",  # who held the sponsor roles, for the next run
        "kpi_history$20261124",
        "runs",
        "kpi_periods",  # the dashboard tables Looker Studio reads, replaced whole
        "kpi_targets",
        "kpi_csm",
        "accounts",
    ]
    assert uploads[0].request.headers["Authorization"] == "Bearer ya29.test"
    queued = _parts(uploads[0].request)[1].decode("utf-8").splitlines()
    assert [json.loads(line)["state"] for line in queued] == ["queued"] * result["alerts"]["sent"]
    accounts = _parts(uploads[2].request)[1].decode("utf-8").splitlines()
    assert len(accounts) == result["accounts_read"]
    assert "ya29.test" not in json.dumps(result) and "PRIVATE KEY" not in json.dumps(result)


@responses.activate
def test_dashboard_tables_keep_their_types_and_every_digit(store: BigQueryHistory) -> None:
    """A column empty in one run stays FLOAT64, a date stays DATE, a float keeps all 17
    significant digits (pandas' JSON writer would round it)."""
    responses.add_callback(responses.POST, UPLOAD, callback=done_job)
    periods = pd.DataFrame(
        {
            "period_start": ["2026-10-01"],
            "period_end": ["2026-10-31"],
            "period": ["2026-10"],
            "grain": ["month"],
            "complete": [True],
            "metric": ["nrr"],
            "dimension": ["all"],
            "value": [0.1 + 0.2],
            "basis": ["opportunities"],
        }
    )
    accounts = pd.DataFrame(
        {"account_id": ["001A"], "arr": [None], "renewal_date": [None], "phase_delayed": [None]}
    )
    from cs_sync.publish import DASHBOARD_KINDS

    store.publish_tables({"kpi_periods": periods, "accounts": accounts}, DASHBOARD_KINDS)
    loads = [_parts(call.request) for call in responses.calls]
    schemas = [
        {
            f["name"]: f["type"]
            for f in json.loads(p[0])["configuration"]["load"]["schema"]["fields"]
        }
        for p in loads
    ]
    assert schemas[0] == {
        "period_start": "DATE",
        "period_end": "DATE",
        "period": "STRING",
        "grain": "STRING",
        "complete": "BOOL",
        "metric": "STRING",
        "dimension": "STRING",
        "value": "FLOAT64",
        "basis": "STRING",
    }
    assert schemas[1] == {
        "account_id": "STRING",
        "arr": "FLOAT64",
        "renewal_date": "DATE",
        "phase_delayed": "BOOL",
    }
    assert json.loads(loads[0][1])["value"] == 0.30000000000000004
    assert json.loads(loads[1][1]) == {
        "account_id": "001A",
        "arr": None,
        "renewal_date": None,
        "phase_delayed": None,
    }
