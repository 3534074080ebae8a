output "launch_template_id" {
  description = "The launch template of the Batch instances."
  value       = aws_launch_template.this.id
}

output "launch_template_version" {
  description = "Its latest version number: the compute environments name it, so a new version is rolled out to them."
  value       = tostring(aws_launch_template.this.latest_version)
}

output "ami_id" {
  description = "The image the launch template uses."
  value       = local.image_id
}

output "instance_role_arn" {
  description = "The EC2 instance role."
  value       = aws_iam_role.instance.arn
}

output "instance_role_name" {
  description = "The EC2 instance role's name (attach more policies to it from outside)."
  value       = aws_iam_role.instance.name
}

output "instance_profile_arn" {
  description = "The instance profile the compute environments launch instances with."
  value       = aws_iam_instance_profile.instance.arn
}
