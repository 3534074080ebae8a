# Fair-share scheduling of the default queue (modules/batch `fair_share`); terraform loads this file with
# terraform.tfvars, which stays flat (one-line values) so that `runner status` reads it without an HCL parser.
#
# Each group submits under its share identifier; a lower weight gets more vCPUs: the sequencing core's production
# runs (`core`) get twice a group's share, `lab*` covers every per-lab identifier (lab01, labsmith, ...). The
# analyst policy allows submissions under these identifiers only.
fair_share = {
  shares = {
    core       = 0.5
    genomics   = 1
    proteomics = 1
    "lab*"     = 2
  }
  compute_reservation = 10
  share_decay_seconds = 14400
}
