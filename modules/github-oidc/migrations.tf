################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/github-oidc/`.

# Since the module was added (acdb277): the OIDC provider counted, roles, role policies and boundaries keyed by
# env; no address changed.
