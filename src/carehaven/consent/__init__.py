"""Privacy-notice versions and consent (REQUIREMENTS CON-1, CON-3)."""
