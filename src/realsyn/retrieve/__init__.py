"""Hierarchical retrieval (spec section 2): each image's top-k real sentences.

    clustering.py  spherical k-means (faiss) over sentence embeddings, nearest-centre assignment
    index.py       the persistent, memory-mapped inverted-file index (centres + sorted lists)
    routing.py     which lists a query probes: the paper's nearest centre, or learned list keys
    search.py      the routed lists, then one matrix product per (list, its queries) group
    queries.py     the run's image queries: seeded fit and audit samples, fitting the router
    quality.py     audit against exact search, text1 reuse report, optional per-sentence cap
    stage.py       the `retrieve` stage: sentences_final + images_final -> retrieved
"""
