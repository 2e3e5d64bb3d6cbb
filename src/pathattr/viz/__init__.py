"""pathattr.viz."""
