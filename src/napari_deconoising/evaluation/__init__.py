"""Measuring results: quality metrics, classical baselines and comparison figures."""
