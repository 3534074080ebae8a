"""Nextflow on the platform: the generated awsbatch config and head-job launches tracked as runs.
Imports core, aws (the Batch gateway) and session (outputs, the run model); never cli or infra.
"""
