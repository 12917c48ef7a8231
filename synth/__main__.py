"""Entry point for ``python -m synth``."""

from synth.cli import main

raise SystemExit(main())
