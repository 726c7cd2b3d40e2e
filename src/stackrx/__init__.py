"""stackrx: an operations doctor for OpenStack clouds."""

__version__ = "0.1.0"
