import sys

from styljax.infer.cli import main

sys.exit(main())
