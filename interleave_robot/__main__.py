import sys

from interleave_robot.cli import main

sys.exit(main())
