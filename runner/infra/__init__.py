"""Infrastructure: the terraform engine, saved and reviewed plans, bootstrap, the outputs cache, module docs, GitOps.
Imports core and aws; never session, jobs or nextflow.
"""
