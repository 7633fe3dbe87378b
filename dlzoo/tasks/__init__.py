"""Lightning task modules: each wraps any model of its kind."""
