import pytest
import slow_stage
import stepped_stage
from test_ray import local_ray  # noqa: F401 (the fixture)

from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor
from realsyn.stage import Context
from realsyn.workspace import Workspace

pytest.importorskip("ray")


def test_ray_runs_steps_like_local_and_resumes_mid_step(tmp_path, local_ray):  # noqa: F811
    from realsyn.executors.base import StageError
    from realsyn.executors.ray import RayExecutor

    local, distributed = tmp_path / "local", tmp_path / "ray"
    for root in (local, distributed):
        slow_stage.make_numbers(Workspace(str(root)), 4, 10)
    LocalExecutor(workers=1).run(stepped_stage.SteppedSumStage(), Context(
        config=RealsynConfig(workspace=str(local)), workspace=Workspace(str(local))))

    workspace = Workspace(str(distributed))
    ctx = Context(config=RealsynConfig(workspace=str(distributed)), workspace=workspace)
    workspace.write_bytes(stepped_stage.FAIL, b"")
    with pytest.raises(StageError, match="planted failure"):
        RayExecutor(workers=2).run(stepped_stage.SteppedSumStage(), ctx)
    (distributed / stepped_stage.FAIL).unlink()
    stats = RayExecutor(workers=2).run(stepped_stage.SteppedSumStage(), ctx)

    splits = [name for name in (distributed / "control" / "runs").iterdir()
              if name.name.startswith("split")]
    assert len(splits) == 4, "the finished step is not rerun"
    assert stats["records_in"] == 40
    for path in sorted((local / "datasets" / "sums").glob("*.parquet")):
        assert (distributed / "datasets" / "sums" / path.name).read_bytes() == path.read_bytes()
