"""The web portal (issue 14): a thin edge over the domain functions the command line calls.

``create_app`` builds the FastAPI application; ``routes/`` holds one router per area;
``authz.py`` the table of who may use which route. docs/web.md says how to run it.
"""

from carehaven.web.app import create_app

__all__ = ["create_app"]
