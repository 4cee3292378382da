"""What must survive a crash, in Redis: the state store, its key layout, customers' slots,
and the clients with deadlines."""
