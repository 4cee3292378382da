"""What actions achieved: attribution of outcomes to actions, the held-out control group,
and the reports built on them."""
