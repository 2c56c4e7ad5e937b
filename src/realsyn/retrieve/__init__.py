"""Hierarchical retrieval (spec section 2): each image's top-k real sentences.

    stage.py           the `retrieve` stage: sentences_final + images_final -> retrieved, as
                       the wiring of its steps
    index_steps.py     scan, train, assign: usable sentences, centres, the partitioned lists
    centroid_cache.py  the centres kept in index/retrieve/ across runs
    routing_steps.py   fit, router, route: which lists each image probes
    search_steps.py    search, merge: each list partition against its queries, the audit
    cap_steps.py       cap, write: no sentence serves more than the cap
    report_steps.py    reuse, report: text1 reuse and the audit in report/retrieve.json
    lists.py           the partitioned inverted lists and the scratch files the steps share
    index.py           the lists as the searcher reads them (centres + sorted lists)
    routing.py         which lists a query probes: the paper's nearest centre, or learned keys
    search.py          the routed lists, then one matrix product per (list, its queries) group
    queries.py         the run's image queries: seeded fit and audit samples, rows by shard
    candidates.py      candidate tables: each image's best, the per-sentence cap
    output.py          the `retrieved` records
    quality.py         the audit's and reuse's figures, the report's warnings
    preview.py         the CLI's preview of a few retrieved images
"""
