"""``python -m sisec_stream`` is the ``sisec-stream`` command."""

import sys

from sisec_stream.cli import main

sys.exit(main())
