"""The worker's log server and the web server's client of it, over real HTTP on loopback."""
from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.task_runner.log_server import LogServer, fetch, sign

SECRET = "shared-secret"
RELATIVE = "dag_id=etl/run_id=manual__1/task_id=load/attempt=1.log"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LogServer, Path]]:
    folder = tmp_path / "logs"
    (folder / RELATIVE).parent.mkdir(parents=True)
    (folder / RELATIVE).write_text("line one\nline two\n")
    (tmp_path / "secret.txt").write_text("not a log\n")
    server = LogServer(folder, SECRET, host="127.0.0.1", port=0).start()
    yield server, folder
    server.stop()


def test_a_signed_request_gets_the_log_from_an_offset_with_its_size(served: tuple[LogServer, Path]) -> None:
    server, _ = served
    whole = fetch("127.0.0.1", server.port, RELATIVE, SECRET, 0, 1024)
    assert (whole.found, whole.data, whole.size) == (True, b"line one\nline two\n", 18)
    rest = fetch("127.0.0.1", server.port, RELATIVE, SECRET, 9, 4)
    assert (rest.data, rest.size) == (b"line", 18)



def test_from_past_the_logs_end_the_answer_is_nothing_with_the_size(served: tuple[LogServer, Path]) -> None:
    """Before: 2**63 - 1 was a seek the file system refused (EINVAL), answered as "no such log file"."""
    server, _ = served
    for offset in (18, 1000, 2**63 - 1):
        past = fetch("127.0.0.1", server.port, RELATIVE, SECRET, offset, 1024)
        assert (past.found, past.data, past.size) == (True, b"", 18), offset

def test_a_request_without_the_shared_key_gets_nothing(served: tuple[LogServer, Path]) -> None:
    server, _ = served
    wrong = fetch("127.0.0.1", server.port, RELATIVE, "another-key", 0, 1024)
    assert not wrong.found and wrong.data == b"" and "403" in wrong.error
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/log/{RELATIVE}")  # unsigned
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 403
    # a token for one file does not open another
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/log/{RELATIVE}x",
                                     headers={"Authorization": sign(SECRET, RELATIVE)})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 403


def test_an_expired_token_is_refused(served: tuple[LogServer, Path]) -> None:
    import time

    server, _ = served
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/log/{RELATIVE}",
                                     headers={"Authorization": sign(SECRET, RELATIVE, now=time.time() - 3600)})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 403


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "dag_id=etl/../../secret.txt"])
def test_nothing_outside_the_log_folder_is_served_even_signed(served: tuple[LogServer, Path], path: str) -> None:
    server, _ = served
    answer = fetch("127.0.0.1", server.port, path, SECRET, 0, 1024)
    assert not answer.found and "400" in answer.error and answer.data == b""


def test_a_link_out_of_the_log_folder_is_not_followed(served: tuple[LogServer, Path]) -> None:
    server, folder = served
    (folder / "escape.log").symlink_to(folder.parent / "secret.txt")
    answer = fetch("127.0.0.1", server.port, "escape.log", SECRET, 0, 1024)
    assert not answer.found and "400" in answer.error


def test_a_missing_file_or_a_worker_that_is_down_is_said_not_raised(served: tuple[LogServer, Path]) -> None:
    server, _ = served
    missing = fetch("127.0.0.1", server.port, "dag_id=etl/none.log", SECRET, 0, 1024)
    assert not missing.found and "404" in missing.error
    down = fetch("127.0.0.1", 1, RELATIVE, SECRET, 0, 1024, timeout=2)
    assert not down.found and "did not answer" in down.error


def test_a_worker_without_a_secret_key_serves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        LogServer(tmp_path, "", port=0)
