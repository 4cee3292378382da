"""Redis key layout. Every per-customer key carries the customer's slot in a hash tag.

The hash tag `{prefix:slot}` keeps all keys of one slot on one Redis Cluster node, and lets
a slot's customers move between shards without renaming anything.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "engage"

    def slot_tag(self, slot: int) -> str:
        return f"{self.prefix}:{{{slot}}}"

    def state(self, slot: int, customer_id: str) -> str:
        return f"{self.slot_tag(slot)}:s:{customer_id}"

    def reminders(self, slot: int) -> str:
        return f"{self.slot_tag(slot)}:reminders"

    def outbox(self, slot: int) -> str:
        return f"{self.slot_tag(slot)}:outbox"

    def attempts(self, slot: int) -> str:
        """When delivery of each outbox entry began (see actors.delivery.outbox)."""
        return f"{self.slot_tag(slot)}:attempts"

    def email_suppressions(self) -> str:
        """Addresses that bounced or complained (actors.delivery.mail.suppressions)."""
        return f"{self.prefix}:email:suppressed"

    def trace(self, slot: int, customer_id: str) -> str:
        """The customer's latest decision traces, newest first (a capped list)."""
        return f"{self.slot_tag(slot)}:t:{customer_id}"

    def guard(self, slot: int, customer_id: str) -> str:
        """Per-customer guardrail counters (frequency caps), one hash per customer."""
        return f"{self.slot_tag(slot)}:g:{customer_id}"

    def sent(self, idempotency_key: str) -> str:
        return f"{self.prefix}:sent:{idempotency_key}"

    def forgotten(self) -> str:
        """Actors forgotten lately, scored by when: what export and training leave out
        (the tombstone in each state key is what shards honour)."""
        return f"{self.prefix}:forgotten"

    def slot_table(self) -> str:
        return f"{self.prefix}:slot-table"

    def slot_releases(self) -> str:
        """Slot -> the table epoch at which its previous owner let it go (a hash)."""
        return f"{self.prefix}:slot-releases"

    def ingest_figures(self, replica: str) -> str:
        """One ingest replica's latest figures (expire unless republished)."""
        return f"{self.prefix}:ingest:{replica}"

    def figures_series(self, name: str = "figures") -> str:
        """Figures over time (the dashboard's; the live feature counts): bounded samples."""
        return f"{self.prefix}:{name}-series"

    def figures_sample(self, bucket: int, name: str = "figures") -> str:
        """Taken by the API replica that writes the sample of `bucket` (one per bucket)."""
        return f"{self.prefix}:{name}-sample:{bucket}"

    def ingest_replicas(self) -> str:
        """Replicas that published figures, scored by when: read instead of a key scan,
        which would walk every customer's keys on each refresh of the dashboard."""
        return f"{self.prefix}:ingest-replicas"

    def refusals(self, part: str) -> str:
        """Refused collection calls: counts by source and field, a day's samples
        (serving.refusals)."""
        return f"{self.prefix}:refusals:{part}"

    def segment(self, slot: int, name: str) -> str:
        """The slot's members of an audience (actors.rules.segments): a sorted set of
        customer ids scored by when each one's state expires (+inf: never). The commit
        script builds the same name from the state key's hash tag."""
        return f"{self.slot_tag(slot)}:seg:{name}"

    def outcomes(self, slot: int) -> str:
        """Outcome counters of the slot's customers (see actors.outcomes.reports)."""
        return f"{self.slot_tag(slot)}:outcomes"

    # ---- the model registry (training.registry) and its shadow log ----------------------

    def model(self, name: str, part: str) -> str:
        """One part (a version's artifact or metadata, the aliases) of a model."""
        return f"{self.prefix}:model:{name}:{part}"

    def catalog(self, part: str) -> str:
        """The offer catalogue's keys (versions, current, history, audit), all under one
        hash tag so that a load changes them in one transaction on a Redis Cluster too."""
        return f"{self.prefix}:{{catalog}}:{part}"

    def rules(self, part: str) -> str:
        """The rules' versions, current version and history, under one hash tag (one
        transaction per push on a Redis Cluster too)."""
        return f"{self.prefix}:{{rules}}:{part}"

    def models(self) -> str:
        """The names of the registered models."""
        return f"{self.prefix}:models"

    def models_epoch(self) -> str:
        """Bumped on every registry change: replicas reload when it moves."""
        return f"{self.prefix}:models:epoch"

    def shadow(self, name: str) -> str:
        """Champion and challenger scores side by side (serving.watcher writes,
        training.compare reads)."""
        return f"{self.prefix}:shadow:{name}"
