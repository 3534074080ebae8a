################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/network/`.

# Since the module was added (ebf240a): every resource kept its name and its count/for_each keys (subnets and
# their route table associations keyed by availability zone, everything else counted). The S3 endpoint's
# policy (issue 21.4) is an argument of aws_vpc_endpoint.s3: updated in place.
