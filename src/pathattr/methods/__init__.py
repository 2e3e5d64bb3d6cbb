"""Attribution methods, each a path plus quadrature fed to the engine."""

from pathattr.methods.integrated_gradients import integrated_gradients

__all__ = ["integrated_gradients"]
