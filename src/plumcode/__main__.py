import sys

from plumcode.cli import main

sys.exit(main())
