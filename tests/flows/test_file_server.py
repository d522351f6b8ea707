"""The store file server of `plotline ui` (flows/file_server.py) and the browser links built on it
(flows/links.py): files under the root answer a GET over loopback, traversal and symlink escapes are refused,
nothing is writable, local paths become http:// links and S3 objects presigned URLs; never file://."""

from __future__ import annotations

import http.client
import os

import httpx
import pytest

from flows.file_server import MARKER, FileServer, served_url, url_for
from flows.links import Linker
from plotline.store import StorageConfig


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "runs"
    (root / "r1" / "step=000000").mkdir(parents=True)
    (root / "r1" / "step=000000" / "a b.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    server = FileServer(root).start()
    yield server, root
    server.stop()


def _raw_get(url: str, path: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path)  # sent verbatim (httpx would normalise the dots away)
    status = conn.getresponse().status
    conn.close()
    return status


def test_files_inside_the_root_answer_and_escapes_are_refused(served):
    server, root = served
    assert server.url.startswith("http://127.0.0.1:")
    link = url_for(root / "r1" / "step=000000" / "a b.txt", root, server.url)
    got = httpx.get(link, timeout=10)
    assert got.status_code == 200 and got.text == "inside"
    assert httpx.get(f"{server.url}/r1/", timeout=10).status_code == 200  # folders inside the root are listed
    for path in ("/../secret.txt", "/r1/../../secret.txt", "/%2e%2e/secret.txt", "/r1/%2E%2E/%2e%2e/secret.txt"):
        assert _raw_get(server.url, path) == 403, path
    assert _raw_get(server.url, "/escape.txt") == 403  # a symlink out of the root
    assert httpx.post(link, content=b"x", timeout=10).status_code == 501  # read-only
    assert httpx.put(link, content=b"x", timeout=10).status_code == 501
    assert url_for(root.parent / "secret.txt", root, server.url) is None


def test_marker_names_the_server_and_is_removed_at_stop(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    server = FileServer(root).start()
    assert served_url(root) == server.url
    server.stop()
    assert not (root / MARKER).exists() and served_url(root) is None
    with pytest.raises(ValueError, match="not a loopback"):
        FileServer(root, host="0.0.0.0")


def test_linker_local_paths_become_loopback_http_links(served):
    server, root = served
    link = Linker(StorageConfig(root=str(root)))
    url = link(str(root / "r1" / "step=000000" / "a b.txt"))
    assert url.startswith(server.url + "/") and httpx.get(url, timeout=10).text == "inside"
    assert link(f"file://{root}/r1/step=000000/a b.txt") == url
    assert link(str(root.parent / "secret.txt")) is None  # outside the served root: no link, not file://


def test_linker_without_a_server_gives_no_link(tmp_path):
    assert Linker(StorageConfig(root=str(tmp_path)))(str(tmp_path / "x.txt")) is None


def test_linker_presigns_s3_objects(s3_endpoint, s3_bucket):
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").put_object(
        Bucket=s3_bucket, Key="runs/r1/x.txt", Body=b"on s3"
    )
    cfg = StorageConfig.model_validate({"root": f"s3://{s3_bucket}/runs", "s3": {"endpoint_url": s3_endpoint}})
    url = Linker(cfg)(f"s3://{s3_bucket}/runs/r1/x.txt")
    assert url.startswith("http") and "Signature" in url  # presigned (SigV2 or SigV4 query)
    assert httpx.get(url, timeout=10).content == b"on s3"
