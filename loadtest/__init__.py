"""Load tests of robe-serve: locust scenarios, the open-loop runner, reports and plots."""
