"""Nextflow on the platform: the config language (`config`), the generated configuration of an env (`settings`),
head-job runs and their input: sheet (`pipeline`, `inputs`) and the `runner nextflow` use cases (`commands`).
Imports core, aws, session, compute and files.
"""
