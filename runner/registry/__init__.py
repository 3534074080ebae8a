"""Pipeline images in the env's ECR repositories (`runner image push`).
Imports core, aws and session.
"""
