"""Rules files for the tests of pushing, storing and following rules."""

from __future__ import annotations

ONE_RULE = """
rules:
  - id: {rule_id}
    kind: service
    triggers: [page_view]
    action: {{type: content_recommendation, channel: in_app}}
"""

# Three faults in three rules: an unknown trigger, an unknown field, a bad condition.
BROKEN = """
rules:
  - id: a
    kind: service
    triggers: [page_veiw]
    action: {type: content_recommendation, channel: in_app}
  - id: b
    kind: service
    triggers: [page_view]
    when: customer.no_such_field > 1
    action: {type: content_recommendation, channel: in_app}
  - id: c
    kind: service
    triggers: [page_view]
    when: "customer.orders >"
    action: {type: content_recommendation, channel: in_app}
"""


def one_rule(rule_id: str) -> str:
    """A valid rules file of one service rule named `rule_id`."""
    return ONE_RULE.format(rule_id=rule_id)
