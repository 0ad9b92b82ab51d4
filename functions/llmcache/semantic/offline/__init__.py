"""Offline work on the semantic models: training, evaluation, hard-negative generation.

Never imported on the request path and left out of the Lambda asset (infra/constructs/function.py).
"""
