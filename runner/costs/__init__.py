"""What a run cost: instance prices and where each comes from (`pricing`, the dated snapshots in `data/`), every
attempt priced (`attempts`), and the `cost` use case.
Imports core, aws, session and compute.
"""
