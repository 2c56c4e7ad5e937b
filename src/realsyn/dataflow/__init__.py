"""Partitioned primitives the stepped stages (dedup, semantic_dedup, retrieve, balance) are
built from, so that each stage only wires its steps:

    digest.py      stable 64-bit hashes of strings (partitions, rank keys, document keys)
    rows.py        a usable embedding row, row alignment of a dataset and its arrays, global
                   row codes over shards
    sampling.py    seeded row samples, drawn across shards without holding them
    kmeans.py      spherical k-means on a bounded sample, nearest-centre assignment
    rank.py        rank within groups, best-per-group and cap per group
    join.py        a hash join by key, one partition at a time
    components.py  connected components of an edge list, one representative per group

Nothing here knows a stage: the modules import numpy, pyarrow, faiss, scipy, the workspace
and its hash partitioning (realsyn.partitioning) only.
"""
