"""``python -m benchmarks``: run the performance suite (options: ``--help``)."""

from .cli import main

raise SystemExit(main())
