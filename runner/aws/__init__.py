"""AWS access for one env: boto3 clients (emulator or real credential chain) and the one Batch gateway.
Every Batch call and the one throttling policy live here.
"""
