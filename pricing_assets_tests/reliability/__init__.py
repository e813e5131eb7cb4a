"""Reliability and security: faults, hostile input, fuzzing, properties, load (issue 7)."""
