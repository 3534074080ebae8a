################################################################################
# Migrations: one `moved` block per resource address this module ever changed
################################################################################

# A rename, a new for_each key or count -> for_each changes a resource's address; without a `moved` block here,
# terraform would destroy the old object and create a new one. Keep every block (an env may upgrade from any
# release). History read with `git log -p -- modules/platform/`.

# Since the module was added (ebf240a): the module calls network, storage, compute, batch and registry kept their
# names (a renamed call would move every resource of the env), and the analyst policy and the outputs parameter
# were added under their present names (2dd2fdc). envs/local/migrations.tf has the one move of an env root.
