"""Baseline programs of the eplb problem (read as text, never imported by the evaluator)."""
