import sys

from asicflow.cli import main

sys.exit(main())
