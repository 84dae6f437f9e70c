"""`python -m aggregator` is the same program as the `aggregator` console script."""

from aggregator.cli import main

main()
