"""Helpers of ``benchmarks/mri_evidence.py`` (issue 8: MRI evidence E1, E2, E3)."""
