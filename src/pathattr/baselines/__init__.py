"""pathattr.baselines."""
