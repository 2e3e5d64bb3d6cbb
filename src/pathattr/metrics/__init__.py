"""pathattr.metrics."""
