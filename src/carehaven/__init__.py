"""carehaven: a safe haven for health and social care data."""

__version__ = "0.1.0"
