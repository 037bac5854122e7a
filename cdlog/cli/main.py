"""The command group, common options and the mapping of errors to exit codes.

Exit codes: 0 success; 1 the command ran and found a problem (tampering, a refused step);
2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from cdlog.application import CaseLog
from cdlog.domain.config import Config, load_config
from cdlog.errors import CdlogError, ConfigurationError, InputError
from cdlog.logging import configure
from cdlog.stores import StoreConfig, resolve_store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Env:
    """What every subcommand gets: the store, the configuration and a way to open the log."""

    store_url: str | None
    config_path: Path | None

    @property
    def store(self) -> StoreConfig:
        """The resolved store."""
        return resolve_store(self.store_url)

    @property
    def config(self) -> Config:
        """The rule configuration."""
        return load_config(self.config_path)

    def open(self, **kwargs: Any) -> CaseLog:
        """Open the log."""
        return CaseLog(self.store, config=self.config, **kwargs)


class CdlogGroup(click.Group):
    """A group that turns cdlog errors into messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, mapping errors to exit codes."""
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            click.echo(f"cdlog: configuration error: {exc.diagnostics()}", err=True)
            sys.exit(2)
        except InputError as exc:
            click.echo(f"cdlog: refused: {exc.diagnostics()}", err=True)
            sys.exit(1)
        except CdlogError as exc:
            click.echo(f"cdlog: {type(exc).__name__}: {exc.diagnostics()}", err=True)
            sys.exit(1)


@click.group(cls=CdlogGroup)
@click.option("--store", envvar="CDLOG_STORE", default=None, metavar="URL",
              help="sqlite:///path.db or postgresql://...; default sqlite:///.cdlog/cdlog.db "
                   "(env CDLOG_STORE).")
@click.option("--config", "config_path", envvar="CDLOG_CONFIG", default=None,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Rule configuration file, YAML or JSON (env CDLOG_CONFIG).")
@click.option("--json-logs", is_flag=True, envvar="CDLOG_JSON_LOGS", help="Log as JSON.")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.version_option(package_name="cdlog")
@click.pass_context
def cli(ctx: click.Context, store: str | None, config_path: Path | None, json_logs: bool,
        verbose: int) -> None:
    """cdlog: a tamper-evident record of controlled deliveries and pass-throughs."""
    configure(json=json_logs, verbose=verbose)
    ctx.obj = Env(store, config_path)


pass_env = click.make_pass_decorator(Env)


def main() -> None:
    """Console entry point."""
    from cdlog.cli import cases_cmd, keys_cmd, log_cmd, query_cmd, report_cmd, verify_cmd  # noqa: F401, PLC0415

    cli(prog_name="cdlog")
