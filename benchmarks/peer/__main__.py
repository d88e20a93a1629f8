"""``python -m benchmarks.peer``: run the peer workloads against one target (``--help``)."""

from .cli import main

raise SystemExit(main())
