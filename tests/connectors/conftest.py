"""Fixtures the connector tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cs_sync.config import load_config
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import prepare_demo
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, served


@pytest.fixture
def bulk(tmp_path: Path) -> Iterator[tuple[SalesforceClient, Sandbox, CallCounter]]:
    """A client of a 30-account demo org that writes more than five records in a Bulk job,
    its waits for jobs not slept."""
    folder = prepare_demo(tmp_path / "demo", 30, AS_OF, port=0)
    with served(folder) as sandbox:
        config = load_config(folder.config_path)
        counter = CallCounter()
        client = connect(
            config.salesforce.model_copy(update={"bulk_threshold": 5}),
            build_session(config.sandbox.url, counter),
            counter,
            wait_max_s=0.01,
        )
        client.query_pace.least_s = client.ingest_pace.least_s = 0.001
        client.sleep = lambda _: None
        yield client, sandbox, counter
