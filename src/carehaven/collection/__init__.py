"""Collection: land a provider's file, judge every row, accept the valid rows, report the rest."""

from carehaven.collection.period import Period, parse_period
from carehaven.collection.submit import SubmitResult, submit

__all__ = ["Period", "SubmitResult", "parse_period", "submit"]
