"""Similarity and one-to-one matching per label type."""
