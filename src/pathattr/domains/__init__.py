"""pathattr.domains."""
