"""Every command and sub-command explains itself (``--help`` works and says something)."""

import click
import pytest
from click.testing import CliRunner

from socflow.adapters.cli.main import COMMANDS, cli


def _all_commands():
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        yield [name], command
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                yield [name, sub], command.get_command(ctx, sub)


@pytest.mark.parametrize("path, command", list(_all_commands()), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_exists_and_runs(path, command):
    assert (command.help or command.short_help or "").strip(), f"socflow {' '.join(path)} has no help"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
