"""The compute AMI: Packer builds and the tfvars that point an env at an image (`packer`), this project's images
listed and pruned (`images`), the `runner ami` use cases (`commands`). Imports core and aws only.
"""
