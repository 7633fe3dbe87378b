"""Optimisers and learning-rate schedules of the course notes."""
