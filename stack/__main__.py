"""``python -m aigw.stack --plan JSON``: the embedded default in a child process (see ``aigw.stack.run``)."""

import sys

from aigw.stack.run import child_main

sys.exit(child_main())
