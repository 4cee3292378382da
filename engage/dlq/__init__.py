"""`engage dlq`: the dead letters read, shown and replayed into the main stream, each
record at most once (engage.dlq.replay)."""
