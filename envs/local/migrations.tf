# Address changes of this root (see each module's migrations.tf for theirs).

# ebf240a: envs/local first called modules/storage directly (d2f5ee4); since then the platform module wraps it.
# dev and prod were created after that (0b3d9b9) and never held module.storage.
moved {
  from = module.storage
  to   = module.platform.module.storage
}
