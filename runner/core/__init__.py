"""Foundations every package may use: errors, console, the project and its envs, the checkout's git facts.
Imports nothing else of the runner.
"""
