"""``python -m devtools.bench``: see :mod:`devtools.bench.cli`."""

from devtools.bench.cli import main

raise SystemExit(main())
