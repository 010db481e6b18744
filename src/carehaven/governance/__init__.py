"""Governance: recipients, agreements, the sharing policy, releases, people's access, notices."""
