module "storage" {
  source = "../../modules/storage"

  name          = var.name
  force_destroy = true
}
