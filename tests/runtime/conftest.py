"""Runtime tests import their helpers (local gateway, manifest writer, trace checks) from this folder."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
