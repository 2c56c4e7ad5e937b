"""The `embed` stage: joint image/text embeddings of the deduplicated datasets (spec section 2)."""
