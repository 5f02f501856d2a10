import sys

from featviz_core.cli.dispatch import main

sys.exit(main())
