"""``python -m vehicle_mw`` is the ``vmw`` command."""

import sys

from vehicle_mw.cli import main

sys.exit(main())
