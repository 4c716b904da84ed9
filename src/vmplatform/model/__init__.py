"""The model: host features, platforms, releases, host reports, machine types and the typed VM.

The bottom layer. It reads the packaged data files and JSON from outside, and
imports nothing from the layers above (probe, resolution, the adapters, cli).
"""
