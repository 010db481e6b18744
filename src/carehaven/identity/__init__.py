"""Identity: count each person once from weak identifiers, with stable person ids (ADR 0004).

``link`` resolves every accepted row to a person; ``counts``, ``feedback`` and ``review`` read
the registry it leaves in force.
"""
