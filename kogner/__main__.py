import sys

from kogner.cli import main

sys.exit(main())
