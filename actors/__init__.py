"""The reactive core of engage: each customer is a virtual actor.

Nothing in this package imports Ray except the edge modules that host actors on Ray
(`actors.shard`, `actors.router`, `actors.ingest_runner`), so the core runs and is tested
without a cluster.
"""
