"""Automated rule-based checks of labels and annotator behaviour."""
