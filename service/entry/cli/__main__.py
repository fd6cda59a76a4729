"""``python -m service.entry.cli``: how serve starts its web and workers, and how the tests run
the command without an installed script."""

import sys

from service.entry.cli import main

sys.exit(main())
