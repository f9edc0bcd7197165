"""``python3 -m webapp …``: the same command line as the ``trackprep`` console script."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
