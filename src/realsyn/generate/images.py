"""Image bytes for retrieved rows: `images_final` joined by image_id, decoded safely."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from realsyn import datasets
from realsyn.extract.images import EMPTY, TOO_MANY_PIXELS, ImageRejected
from realsyn.extract.images import decode_image as decode_and_normalise
from realsyn.workspace import Workspace

IMAGES = datasets.IMAGES_FINAL


class ImageStore:
    """Finds image bytes by id. The id -> shard index is built from the id column alone on
    first use, so a worker never holds every image in memory."""

    def __init__(self, workspace: Workspace, dataset: str = IMAGES):
        self.workspace = workspace
        self.dataset = dataset
        self._shard_of: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        if self._shard_of is None:
            self._shard_of = {}
            for shard in self.workspace.shards(self.dataset):
                ids = self.workspace.read_table(self.dataset, shard, columns=["image_id"])
                for image_id in ids.column("image_id").to_pylist():
                    self._shard_of.setdefault(image_id, shard)
        return self._shard_of

    def fetch(self, image_ids: list[str]) -> dict[str, bytes]:
        index = self._index()
        wanted: dict[str, list[str]] = {}
        for image_id in set(image_ids):
            if image_id in index:
                wanted.setdefault(index[image_id], []).append(image_id)
        found: dict[str, bytes] = {}
        for shard, ids in sorted(wanted.items()):
            table = self.workspace.read_table(self.dataset, shard, columns=["image_id", "bytes"])
            table = table.filter(pc.is_in(table.column("image_id"), pa.array(ids, pa.string())))
            for image_id, data in zip(table.column("image_id").to_pylist(),
                                      table.column("bytes").to_pylist(), strict=True):
                if data:
                    found.setdefault(image_id, data)
        return found


def decode_image(data: bytes | None) -> tuple[Image.Image | None, str | None]:
    """An RGB image (decoded as the extract stage does), or None and the reason."""
    try:
        return decode_and_normalise(data).image, None
    except ImageRejected as rejected:
        reasons = {EMPTY: "missing_image", TOO_MANY_PIXELS: "image_too_large"}
        return None, reasons.get(rejected.reason, "bad_image")
