"""Nextflow on the platform: the generated awsbatch config and head-job launches tracked as runs.
Builds on jobs (the run store) and aws (the Batch gateway).
"""
