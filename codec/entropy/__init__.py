"""Entropy coding: constriction's range coder behind a small batch-step API."""
