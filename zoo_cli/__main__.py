import sys

from zoo_cli import main

sys.exit(main())
