"""pathattr.scale."""
