"""Pipeline images in the env's ECR repositories (`runner image push`). Imports: runner.core, runner.aws."""
