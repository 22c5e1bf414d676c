"""skopeo for Python: copy, inspect, delete, list, sync and sign container images.

The command line (``skopeo``) is a thin layer over :mod:`skopeo.api`, which other
programs can import instead of shelling out.  Transports are plugins: see
:mod:`skopeo.hookspecs`.
"""

# The upstream release whose behaviour we follow, as ``skopeo --version`` reports
# it: the newest release (main itself says "1.22.0-dev", and scripts and
# upstream's release tests reject a development version).
__version__ = "1.22.2"
