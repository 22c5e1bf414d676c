"""skopeo for Python: copy, inspect, delete, list, sync and sign container images.

The command line (``skopeo``) is a thin layer over :mod:`skopeo.api`, which other
programs can import instead of shelling out.  Transports are plugins: see
:mod:`skopeo.hookspecs`.
"""

__version__ = "1.22.0-dev"
