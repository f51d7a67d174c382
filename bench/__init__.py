"""Benchmarks (`make bench`): figures are ratios against the raw driver measured in the same run."""
