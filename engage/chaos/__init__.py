"""Fault injection: one seeded stream run undisturbed and under a fault schedule, compared.

`tests/e2e/test_faults.py` runs it as a test and `bench/faults.py` as a benchmark; both
drive a real broker, a real Redis and a real local Ray (docs/reliability.md).
"""
