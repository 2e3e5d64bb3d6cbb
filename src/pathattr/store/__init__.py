"""pathattr.store."""
