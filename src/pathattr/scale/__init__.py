"""The engines of dataset runs: local (:mod:`pathattr.scale.local`) and Ray Data
(:mod:`pathattr.scale.ray_engine`, needs the ``pathattr[ray]`` extra).
"""
