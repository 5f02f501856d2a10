import sys

from featviz_core.cli import main

sys.exit(main())
