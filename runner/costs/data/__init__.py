"""Dated price snapshots read by runner.costs.pricing (package data)."""
