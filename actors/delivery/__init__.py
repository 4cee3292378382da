"""Actions on their way out: the outbox dispatcher, the guardrails, and the sinks."""
