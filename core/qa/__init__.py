"""The QA engine: gold scoring, taxonomy, consensus, conflicts, sampling, label errors, bias."""
