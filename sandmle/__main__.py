"""`python -m sandmle` is the `sandmle` command."""
from sandmle.cli import main

raise SystemExit(main())
