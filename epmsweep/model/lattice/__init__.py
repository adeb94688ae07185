"""The 2-D lattice model: Eshelby propagator (``propagator``); paper 002's time-stepped
rules (``activation`` rules run by the generic stepper ``transitions`` with its rate
``field`` and ``tracers`` kernels, ``stepped`` runs); paper 000's event-driven rule
(``eventdriven``); streamed ``observables``; the model's declarations and rule table
(``model``)."""
