"""What an env's compute offers: resource requests (memory, durations, counts), instance types, the capacity behind a
queue and the fit check (`resources`), spot and on-demand capacity (`spot`: the spot fallback's rules).
Imports core and aws.
"""
