region = "us-east-1"
name   = "batch-local"
