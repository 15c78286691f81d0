"""Labeling cost: pricing models, drivers, pilot-based forecasts, in-house vs outsourcing."""
