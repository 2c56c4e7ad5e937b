"""Run the write stage of CONFIG_JSON and SIGKILL the whole process group while shard SHARD
is half written (after its SAMPLES-th sample went into the open tar temporary):
    python kill_writer.py CONFIG_JSON SHARD SAMPLES

The signal is the one `kill -9 -PGID` sends: the writer's temporary stays behind as it was."""

from __future__ import annotations

import json
import os
import signal
import sys

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.stage import Context
from realsyn.workspace import Workspace
from realsyn.write import webdataset
from realsyn.write.stage import WriteStage


def main() -> None:
    config_json, kill_shard, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    write = webdataset.TarShardWriter.write

    def write_then_die(self, *args, **kwargs):
        status = write(self, *args, **kwargs)
        if self.shard_id == kill_shard and self.stats["count"] == samples:
            self.tar.fileobj.flush()  # half a shard on disk, then no chance to clean up
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return status

    webdataset.TarShardWriter.write = write_then_die
    config = parse_config(json.loads(config_json))
    LocalExecutor(1).run(WriteStage(), Context(config=config,
                                               workspace=Workspace(config.workspace)))


if __name__ == "__main__":
    main()
