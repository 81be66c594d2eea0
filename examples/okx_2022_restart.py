"""Replay the 18 Dec 2022 outage and phased restart through exchange_recovery.

The story itself lives in the package (``exchange_recovery/_demo.py``) so that the command-line
tool's ``demo`` command and this script tell exactly the same one.

Run: ``python examples/okx_2022_restart.py``
"""

from exchange_recovery._cli.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
