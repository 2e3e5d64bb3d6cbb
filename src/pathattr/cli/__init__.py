"""pathattr.cli."""
