"""Scale-out engines for dataset runs: Ray Data (:mod:`pathattr.scale.ray_engine`).

Needs the ``pathattr[ray]`` extra.
"""
