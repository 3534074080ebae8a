"""Infrastructure: the terraform engine, saved and reviewed plans, bootstrap, outputs, module docs and GitOps.
Never imports jobs or nextflow.
"""
