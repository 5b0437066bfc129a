from __future__ import annotations

import sys

from uvlaunch.main import main

if __name__ == "__main__":
    sys.exit(main())
