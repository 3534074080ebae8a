"""The compute AMI: Packer builds, image records and the tfvars that point an env at an image.
Imports core and aws only.
"""
