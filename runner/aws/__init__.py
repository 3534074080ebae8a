"""AWS access for one env: boto3 clients (emulator or real credential chain), the one Batch gateway and the one
throttling policy. Imports core and local; the only package besides local that knows the emulator exists.
"""
