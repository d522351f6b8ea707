"""`python -m plotline.cli`: the `plotline` command."""

from plotline.cli.main import main

main()
