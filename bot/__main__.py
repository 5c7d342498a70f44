"""`python -m bot` is the same as `alliance-checkin`."""

from bot.cli import main

raise SystemExit(main())
