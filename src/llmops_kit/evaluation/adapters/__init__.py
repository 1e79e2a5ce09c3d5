"""Adapters to evaluators users already have: azure-ai-evaluation and MAF's eval protocol.

Each adapter imports its framework lazily, so importing this package costs nothing.
"""
