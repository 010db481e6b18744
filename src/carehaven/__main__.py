"""``python -m carehaven``: the same as the ``carehaven`` command."""

import sys

from carehaven.cli import main

sys.exit(main())
