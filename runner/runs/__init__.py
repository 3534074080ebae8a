"""Runs of jobs on AWS Batch: submission (plan, check, apply), resubmission, tracking, the spot fallback, and the use
cases of the analysts' run verbs (submit, status, logs, list, cancel, retry; local reclaim).
Imports core, aws, local, session, compute, files, costs and nextflow.
"""
