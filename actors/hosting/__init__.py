"""Where customer actors live: the shard host and its Ray actor, routing, the supervisor of
the slot table, and residency."""
