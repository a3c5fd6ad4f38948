"""The catalog reconciler: YAML catalogs in git, reconciled into POS and marketplace backends.

The public SDK for provider plugins is `reconciler.sdk`.
"""

__version__ = "0.1.0"
