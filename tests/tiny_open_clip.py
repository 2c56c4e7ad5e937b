"""The tiny open_clip architecture of the plumbing tests: 64-d, 2-layer towers, 64 px."""

TINY_OPEN_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                   "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2,
                 "layers": 2},
}
