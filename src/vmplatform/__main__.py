"""``python -m vmplatform``."""

from vmplatform.cli import main

raise SystemExit(main())
