output "region" {
  description = "Region of this env."
  value       = var.region
}

output "bucket_names" {
  description = "Bucket names keyed by role."
  value       = module.storage.bucket_names
}
