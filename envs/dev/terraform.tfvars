# dev: small and cheap; idles at zero instances.
region      = "eu-west-1"
name        = "batch-platform-dev"
environment = "dev"

spot_max_vcpus     = 256
ondemand_max_vcpus = 32
instance_types     = ["m6i", "c6i", "r6i", "m5", "c5", "r5"]

scratch_volume_size = 100
log_retention_days  = 30
