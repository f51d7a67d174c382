"""`python -m arc.database.cli`: the same as `arc-db`."""

import sys

from arc.database.cli.main import main

sys.exit(main())
