################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/registry/`.

# Since the module was added (ebf240a): repositories and their lifecycle policies keyed by repository name; no
# address changed.
