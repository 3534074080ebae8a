"""The embedded AWS of envs/local: the moto server process, its corrections and the local Batch executor.
Imports only runner.core; nothing outside runner.aws knows the emulator exists.
"""
