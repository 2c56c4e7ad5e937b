import os
from pathlib import Path

import pytest
import slow_stage

from realsyn.config import RealsynConfig
from realsyn.stage import Context
from realsyn.workspace import Workspace

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    # Workers import this test folder and the realsyn under test (not another install).
    import realsyn

    paths = [str(Path(__file__).parent), str(Path(realsyn.__file__).parents[1])]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}})
    yield
    ray.shutdown()


def test_ray_executor_matches_local_and_resumes(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    local, distributed = tmp_path / "local", tmp_path / "ray"
    for root in (local, distributed):
        slow_stage.make_numbers(Workspace(str(root)), 4, 10)
    slow_stage.run(str(local), workers=1)

    workspace = Workspace(str(distributed))
    ctx = Context(config=RealsynConfig(workspace=str(distributed)), workspace=workspace)
    # A shard finished earlier (say by the local executor) is skipped by Ray.
    stage = slow_stage.SlowCopyStage()
    workspace.mark_done(stage.name, "00000", stage.process(ctx, "00000"))
    stats = RayExecutor(workers=2).run(stage, ctx)

    assert stats["records_in"] == 40
    for path in sorted((local / "datasets" / "squares").iterdir()):
        assert (distributed / "datasets" / "squares" / path.name).read_bytes() == path.read_bytes()
