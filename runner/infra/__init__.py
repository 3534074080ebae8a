"""Infrastructure: the terraform engine, saved and reviewed plans, bootstrap, the outputs cache, module docs, GitOps,
the `runner infra` use cases (`commands`) and the local env's emulator as `runner local` drives it (`emulator`).
Imports core, aws and local (`emulator` only); never session, runs or nextflow.
"""
