"""`python -m chargewatch_tools.emulator`: the local emulator (same as `chargewatch run`)."""

import sys

from chargewatch_tools.emulator.server import main

if __name__ == "__main__":
    sys.exit(main())
