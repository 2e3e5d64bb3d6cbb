"""pathattr.priors."""
