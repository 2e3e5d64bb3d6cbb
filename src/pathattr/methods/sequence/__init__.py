"""The pieces of :func:`pathattr.sequence_attributions` (which keeps the maths and orchestration).

* :mod:`.problem`: the validated call (:class:`~.problem.Problem`): path points, log-probabilities.
* :mod:`.prepare` and :mod:`.baselines`: checking the arguments into a ``Problem``.
* :mod:`.reverse`: reverse mode, one VJP per output token, grouped on shared forwards.
* :mod:`.forward`: forward mode, vmap'd JVPs per source token, with its eager-attention retry.
* :mod:`.costs`: the measured costs: pass times for ``mode="auto"``, bytes per row for
  ``batch_size="auto"``.
"""
