################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/storage/`.

# Since the module was added (d2f5ee4): every resource kept its name and is keyed by bucket role (data, work,
# results). The TLS switch that came and went (bae8d8d, 7c71ad5) filtered for_each without changing a key.
