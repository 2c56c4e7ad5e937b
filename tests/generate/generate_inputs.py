"""Test inputs of the generate stage: real photos from installed packages, with retrieved-like
texts, and a workspace holding `retrieved` + `images_final` as earlier stages leave them.
(Not a conftest: several test folders have one, and `import conftest` would be ambiguous.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from realsyn.records import image_id as make_image_id
from realsyn.retrieve.output import retrieved_schema
from realsyn.workspace import Workspace

# benchmarks/bench_generate.py imports this module with only tests/generate on sys.path.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.append(_TESTS)

from real_photos import photo_path  # noqa: E402

# (name, photo in real_photos.py, text1, text2, text3): texts as a web page around the photo
# might have them.
PHOTOS = [
    ("astronaut", "astronaut",
     "Eileen Collins became the first woman to pilot a Space Shuttle when Discovery flew in 1995.",
     "NASA selected her as an astronaut in 1990.", "She later commanded two shuttle missions."),
    ("chelsea", "chelsea",
     "Chelsea the cat was adopted from an animal shelter in Boston in 2006.",
     "She likes to sleep in the sun by the window.", "Cats sleep for up to sixteen hours a day."),
    ("coffee", "coffee",
     "Espresso was first made in Turin and Milan at the start of the 20th century.",
     "A barista pulls each shot for about thirty seconds.", "Crema forms on a fresh shot."),
    ("rocket", "rocket",
     "The Falcon 9 rocket lifted off from Cape Canaveral carrying a communications satellite.",
     "The launch was delayed twice by weather.", "The first stage landed on a drone ship."),
    ("motorcycle", "motorcycle",
     "The Ducati Monster was designed by Miguel Galluzzi and launched in 1993.",
     "It is parked in front of the workshop.", "The bike has a trellis frame."),
    ("hubble", "hubble_deep_field",
     "The Hubble Deep Field was taken over ten days in December 1995.",
     "Almost every object in it is a distant galaxy.", "It covers a tiny patch of sky."),
    ("camera", "camera",
     "The photographer set up his camera on a tripod in the park at Cambridge.",
     "He worked with large film cameras.", "The picture was printed in black and white."),
    ("coins", "coins",
     "These Greek coins from Pompeii were found during the excavations of 1880.",
     "Collectors value them highly.", "The museum keeps them in a glass case."),
    ("retina", "retina",
     "An ophthalmologist at Moorfields Eye Hospital examined the patient's retina.",
     "The image shows blood vessels at the back of the eye.", "Regular checks prevent damage."),
    ("china", "china",
     "The Summer Palace in Beijing was rebuilt by Empress Dowager Cixi in 1888.",
     "Its gardens surround Kunming Lake.", "It is a UNESCO World Heritage Site."),
    ("flower", "flower",
     "The dahlia is the national flower of Mexico, where it grows in the highlands.",
     "Gardeners plant dahlia tubers in spring.", "Bees visit the open blooms."),
    ("grace_hopper", "grace_hopper",
     "Grace Hopper, a rear admiral of the US Navy, wrote one of the first compilers in 1952.",
     "She popularised the term debugging.", "Yale awarded her a doctorate in mathematics."),
]


def photo_bytes(name: str) -> bytes:
    for photo in PHOTOS:
        if photo[0] == name:
            return photo_path(photo[1]).read_bytes()
    raise KeyError(name)


def write_inputs(root: Path, rows: list[dict], shard: str = "00000") -> Workspace:
    """`rows`: dicts with name, bytes (or None), text1, text2, text3. Writes one shard of
    `retrieved` and one of `images_final`, and an empty `sentences_final` (the tag miner's
    declared input; empty, so the tag vocabulary is the shipped one); returns the workspace."""
    workspace = Workspace(str(root))
    retrieved, images = [], []
    for position, row in enumerate(rows):
        url = f"https://example.org/{row['name']}.jpg"
        image = make_image_id(f"doc-{shard}", position, url)
        record = {"image_id": image, "doc_id": "doc-test", "position": position, "url": url,
                  "image_cluster_id": position % 3}
        for k in (1, 2, 3):
            record |= {f"text{k}": row[f"text{k}"], f"score{k}": 0.6 - 0.05 * k,
                       f"sentence_id{k}": f"s{position}-{k}", f"sentence_doc_id{k}": "doc-test",
                       f"cluster_id{k}": position % 3}
        retrieved.append(record)
        if row.get("bytes") is not False:  # False: the image is missing from images_final
            images.append({"image_id": image, "doc_id": "doc-test", "position": position,
                           "url": url, "bytes": row.get("bytes"), "meta": "{}"})
    workspace.write_table("retrieved", shard,
                          pa.Table.from_pylist(retrieved, schema=retrieved_schema(3)))
    workspace.write_table("images_final", shard, pa.Table.from_pylist(images))
    workspace.write_table("sentences_final", shard,
                          pa.table({"text": pa.array([], pa.string())}))
    return workspace


def photo_rows(names: list[str] | None = None) -> list[dict]:
    chosen = [p for p in PHOTOS if names is None or p[0] in names]
    return [{"name": name, "bytes": photo_path(where).read_bytes(), "text1": t1,
             "text2": t2, "text3": t3} for name, where, t1, t2, t3 in chosen]
