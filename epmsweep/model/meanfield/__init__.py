"""Paper 000's mean-field model: the exact N-site simulation (``simulation``), the
Fokker-Planck equation (``fokker_planck`` with ``rates``, ``stationary``, ``relaxation``)
and the paper's closed forms (``theory``)."""
