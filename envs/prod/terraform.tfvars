# prod: larger compute and scratch; protected (envs/prod/runner.toml): applies only a saved, reviewed plan.
region      = "eu-west-1"
name        = "batch-platform-prod"
environment = "prod"

spot_max_vcpus     = 2048
ondemand_max_vcpus = 256
instance_types     = ["m6i", "c6i", "r6i", "m7i", "c7i", "r7i", "m5", "c5", "r5"]

scratch_volume_size       = 500
scratch_volume_iops       = 6000
scratch_volume_throughput = 500
log_retention_days        = 365
