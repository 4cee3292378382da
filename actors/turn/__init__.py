"""One customer's turn: the customer actor, scoring against the model server (prefetched
per batch), and ranking the offers."""
