################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/batch/`.

# Since the module was added (ebf240a): compute environments, queues and job definitions keyed as in their maps
# (nextflow-head joined job_definitions from the start), the head role's resources counted; no address changed.
#
# Removed, not moved (5083404): aws_iam_role.service and aws_iam_role_policy_attachment.service, the platform's
# own Batch service role, replaced by the service-linked role AWSServiceRoleForBatch. There is nothing to move
# them to: an env that still holds them in its state deletes them, after its compute environments. Those were
# created on that role and cannot take infrastructure updates, so they must be replaced; the BatchServiceRole
# tag of their compute resources makes the first plan after the upgrade do it (the provider replaces an
# environment that cannot be updated whenever its compute resources change; one on the service-linked role gets
# the tag in place). No manual -replace is needed any more (README: Upgrading an env).
#
# Added here (fair share): aws_batch_scheduling_policy.this and terraform_data.queue_scheduling, new addresses;
# a queue switching FIFO <-> fair-share is replaced on purpose (terraform_data.queue_scheduling), not moved.
# What remains manual: the first switch of a queue created before terraform_data.queue_scheduling existed.
# That resource is then created, not changed, and replace_triggered_by ignores creations, while no attribute of
# the queue but its name forces a replacement; nothing in the configuration can tell such a queue from a new
# one. Plan that switch with -replace (README: Fair-share scheduling).
