"""The offer catalogue as data: offers a business loads, changes and retires while engage
runs, versioned in Redis and followed by every shard and API replica.

offer.py (one offer and its eligibility), parsing.py (JSON lines and CSV files, refused
line by line), catalog.py (one version: lookup and diff), store.py (versions, audit,
rollback in Redis), follower.py (the version a process serves, kept current).
"""
