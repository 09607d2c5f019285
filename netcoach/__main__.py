"""``python -m netcoach`` runs the CLI."""

from netcoach.cli import main

raise SystemExit(main())
