"""Foundations every package may use: errors (and `failures`: AWS failures as one line), console, the project and
its envs, the checkout's git facts.
Imports nothing else of the runner.
"""
