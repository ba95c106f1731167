"""`python -m lumbar` is the `lumbar` command (lumbar.cli)."""
import sys

from .cli import main

sys.exit(main())
