"""The command line: thin commands over the domain packages, and one place errors are shown."""

from carehaven.cli.app import app, main

__all__ = ["app", "main"]
