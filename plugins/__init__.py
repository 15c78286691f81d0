"""Tool plugins. Each converts its tool's data into accord.core, runs core, and writes results back."""
