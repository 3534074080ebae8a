"""Nextflow on the platform: the generated awsbatch config, head-job launches tracked as runs, their input: sheet.
Imports core, aws (the Batch gateway), session (outputs, the run model) and jobs (staging); never cli or infra.
"""
