import sys

from lead_ir.cli import main

sys.exit(main())
