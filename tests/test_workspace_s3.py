"""A workspace on an object store: s3fs against moto's S3 server on loopback. A commit there
moves folders by copy and delete; it must survive a crash at any point, and a stage killed
midway resumes, with outputs equal to a local run's."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from realsyn.commit import commit, recover  # noqa: E402
from realsyn.config import parse_config  # noqa: E402
from realsyn.executors.base import StageError  # noqa: E402
from realsyn.extract.stages import ExtractSentencesStage  # noqa: E402
from realsyn.pipeline import run_pipeline  # noqa: E402
from realsyn.workspace import Workspace  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
from small_pipeline import slice_corpus, small_config  # noqa: E402

BUCKET = "realsyn-test"
STAGES = ["ingest", "extract_images", "extract_sentences", "dedup"]


class Crash(RuntimeError):
    """A process killed in the middle of a commit."""


class Killer:
    """Lets `survive` calls of the wrapped methods through, then crashes the next one."""

    def __init__(self, survive: int):
        self.survive, self.calls = survive, 0

    def wrap(self, method):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls > self.survive:
                raise Crash(f"killed at operation {self.calls}")
            return method(*args, **kwargs)
        return call


@pytest.fixture(scope="module")
def s3():
    import s3fs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        # What a user sets to point s3fs (botocore) at an S3-compatible store.
        patch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem().mkdir(BUCKET)
        yield f"s3://{BUCKET}"
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def _generation(workspace: Workspace, tag: str, count: int) -> None:
    staged = workspace.staged(["datasets/numbers"])
    for index in range(count):
        staged.write_bytes(f"datasets/numbers/{index:05d}.parquet", f"{tag}-{index}".encode())


def _folder(workspace: Workspace) -> dict[str, bytes]:
    return {name: workspace.read_bytes(f"datasets/numbers/{name}")
            for name in workspace.list_files("datasets/numbers", ".parquet")}


def _leftovers(workspace: Workspace) -> list[str]:
    return [path for path in workspace.fs.find(workspace.root)
            if "/.staging-" in path or "/.old-" in path]


def test_a_commit_on_s3_survives_a_crash_at_every_copy_and_delete(s3, monkeypatch):
    """Crash the n-th copy or delete of the swap, for every n, then recover: the folder holds
    the whole new generation, nothing of the old one and no staging or old folders."""
    crash_at = 0
    while True:
        workspace = Workspace(f"{s3}/commit-{crash_at}")
        _generation(workspace, "old", 3)
        commit(workspace, "numbers", ["datasets/numbers"], {"fingerprint": "a"})
        _generation(workspace, "new", 2)

        killer = Killer(crash_at)
        with monkeypatch.context() as patch:
            patch.setattr(workspace.fs, "copy", killer.wrap(workspace.fs.copy))
            patch.setattr(workspace.fs, "rm", killer.wrap(workspace.fs.rm))
            try:
                commit(workspace, "numbers", ["datasets/numbers"], {"fingerprint": "b"})
                crashed = False
            except Crash:
                crashed = True
        if crashed:
            assert recover(workspace) == ["numbers"]
        assert _folder(workspace) == {"00000.parquet": b"new-0", "00001.parquet": b"new-1"}
        assert workspace.read_json("stages/numbers/state.json")["fingerprint"] == "b"
        assert _leftovers(workspace) == []
        if not crashed:
            break
        crash_at += 1
    assert crash_at >= 8, "every copy and delete of both moves must have been a crash point"


def _datasets(workspace: Workspace) -> dict[str, bytes]:
    files = {}
    for dataset in workspace.list_files("datasets"):
        for name in workspace.list_files(f"datasets/{dataset}", ".parquet"):
            files[f"{dataset}/{name}"] = workspace.read_bytes(f"datasets/{dataset}/{name}")
    return files


def test_stages_on_an_s3_workspace_resume_after_a_failure_and_equal_the_local_run(
        s3, tmp_path, monkeypatch):
    corpus = slice_corpus(tmp_path / "corpus")
    local = parse_config(small_config(tmp_path / "ws", corpus))
    run_pipeline(local, only=STAGES, report=lambda line: None)
    remote = parse_config({**small_config(tmp_path / "unused", corpus), "workspace": f"{s3}/ws"})

    original = ExtractSentencesStage.process

    def fail_on_second_shard(self, ctx, shard):
        if shard == "00001":
            raise OSError("node lost")
        return original(self, ctx, shard)

    with monkeypatch.context() as patch:
        patch.setattr(ExtractSentencesStage, "process", fail_on_second_shard)
        with pytest.raises(StageError, match="'extract_sentences' failed on shard '00001'"):
            run_pipeline(remote, only=STAGES, report=lambda line: None)
    workspace = Workspace(remote.workspace)
    assert workspace.completed("extract_sentences") == ["00000"]
    assert not workspace.exists("datasets/sentences_filtered"), "nothing committed yet"

    lines: list[str] = []
    results = run_pipeline(remote, only=STAGES, report=lines.append)
    assert "ingest" not in results, "committed stages are not redone"
    assert set(results) == {"extract_sentences", "dedup"}
    expected = _datasets(Workspace(local.workspace))
    assert {name.split("/")[0] for name in expected} >= {"documents", "images_dedup",
                                                           "sentences_dedup"}
    assert _datasets(workspace) == expected
    assert _leftovers(workspace) == []
