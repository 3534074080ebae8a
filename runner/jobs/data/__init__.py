"""Dated price snapshots read by runner.jobs.pricing (package data)."""
