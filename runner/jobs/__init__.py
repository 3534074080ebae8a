"""Analysts' jobs: sample sheets, resources, job definitions, staging, submission (plan, check, apply), tracking.
Imports core, aws and session; never cli, infra or nextflow.
"""
