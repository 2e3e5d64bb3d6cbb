"""pathattr.axioms."""
