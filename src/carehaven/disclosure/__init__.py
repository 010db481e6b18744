"""Disclosure control for aggregate tables: primary rules, secondary suppression, intruder check."""
