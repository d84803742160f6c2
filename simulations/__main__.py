"""``python -m simulations ...``: the ``simulate`` command without the service's CLI."""

import typer

from simulations.cli import simulate


def main() -> None:
    typer.run(simulate)


if __name__ == "__main__":
    main()
