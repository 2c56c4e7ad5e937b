"""Hierarchical retrieval (spec section 2): each image's top-k real sentences.

    clustering.py  spherical k-means (faiss) over sentence embeddings, nearest-centre assignment
    index.py       the persistent, memory-mapped inverted-file index (centres + sorted lists)
    search.py      nearest centre(s), then one matrix product per (list, its queries) group
    stage.py       the `retrieve` stage: sentences_final + images_final -> retrieved
"""
