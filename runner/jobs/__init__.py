"""Analysts' jobs: sample sheets, rows as data (`rows`), Docker/Batch checks (`validate`), resources, job definitions,
staging, submission (plan, check, apply), tracking.
Imports core, aws and session; never cli, infra or nextflow.
"""
