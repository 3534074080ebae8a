"""Analysts' jobs: sample sheets, resources, job definitions, staging, submission, tracking and the run store.
Never imports cli, infra internals or nextflow.
"""
