"""The arc-db command line without a database: progress bar, errors, parser."""

import io

import pytest

from arc.database.cli.common import CliError, ProgressBar, explain
from arc.database.cli.main import build_parser
from arc.database.core.errors import ArcConfigurationError


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    ProgressBar("x", stream=quiet)(5, 10, "half")
    assert quiet.getvalue() == ""
    tty = Tty()
    bar = ProgressBar("load", stream=tty, width=10)
    bar(10, 10, "done")
    assert "load [##########] 100.0% done" in tty.getvalue()
    assert tty.getvalue().endswith("\n")


def test_cli_errors_are_redacted_one_liners() -> None:
    url = "postgresql://arc:hunter2@db.internal:5432/arc"
    err = explain(ConnectionRefusedError(f"could not connect to {url}"), url)
    assert isinstance(err, CliError)
    assert err.code == 3
    assert "hunter2" not in str(err)
    assert "***" in str(err)
    assert err.hint
    config = explain(ArcConfigurationError("TIMESCALE_SERVICE_URL", "is not set"), None)
    assert config.code == 2


def test_cli_parser_knows_the_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(["--url", "postgresql://x/y", "migrate", "downgrade", "0004"])
    assert (args.command, args.action, args.revision) == ("migrate", "downgrade", "0004")
    assert parser.parse_args(["health", "--json"]).json is True
    assert parser.parse_args(["demo", "--seed", "5"]).seed == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["migrate", "sideways"])
