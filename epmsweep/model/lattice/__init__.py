"""The 2-D lattice model: Eshelby propagator (``propagator``), paper 002's time-stepped
rules (``stepped``, dense and ``lazy`` stepping, ``activation``, ``field`` and ``tracers``
kernels), paper 000's event-driven rule (``eventdriven``), streamed ``observables``, and
the model's declarations (``model``)."""
