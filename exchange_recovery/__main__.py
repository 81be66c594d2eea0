"""``python -m exchange_recovery``: the same command line as ``exchange-recovery``."""

from exchange_recovery._cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
