"""The command group, common options and the mapping of errors to exit codes.

Exit codes:

* 0 — success;
* 1 — verification ran and found a problem (tampering, a broken proof, a forked checkpoint);
* 2 — usage, input, configuration, key or store errors (nothing was written);
* 130 — interrupted (Ctrl-C); nothing partial was written.

Every error is one line on stderr, ``cdlog: <kind>: <what, where, what was expected>``; no
traceback reaches a user (``CDLOG_DEBUG=1`` shows one, for bug reports).
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from eventsourcing.persistence import PersistenceError

from cdlog import native_status
from cdlog.application import CaseLog
from cdlog.domain.config import Config, load_config
from cdlog.errors import (
    CdlogError,
    ConcurrencyError,
    ConfigurationError,
    InputError,
    KeyStoreError,
    NotFoundError,
    StoreError,
    VerificationError,
)
from cdlog.logging import configure
from cdlog.store.urls import StoreConfig, resolve_store

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_KINDS: tuple[tuple[type[CdlogError], str, int], ...] = (
    (VerificationError, "verification failed", EXIT_FAILED),
    (ConfigurationError, "configuration error", EXIT_USAGE),
    (InputError, "refused", EXIT_USAGE),
    (NotFoundError, "not found", EXIT_USAGE),
    (ConcurrencyError, "conflict", EXIT_USAGE),
    (KeyStoreError, "key file", EXIT_USAGE),
    (StoreError, "store", EXIT_USAGE),
)


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

    def open(self, *, readonly: bool = False, **kwargs: Any) -> CaseLog:
        """Open the log. ``readonly`` never creates a store: a missing one is a
        :class:`StoreError` naming it. A writing command that creates a new store says where."""
        if readonly:
            kwargs["create"] = False
        log = CaseLog(self.store, config=self.config, **kwargs)
        if log.created:
            where = (log.store.path.resolve() if log.store.path is not None
                     else log.store.redacted)
            click.echo(f"cdlog: created a new store at {where}", err=True)
        return log


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _scrub(text: str, ctx: click.Context) -> str:
    """Remove the store's password from a message, whatever produced it."""
    env = ctx.find_object(Env)
    try:
        password = env.store.password if env is not None else ""
    except CdlogError:
        password = ""
    return text.replace(password, "***") if password else text


def fail(ctx: click.Context, kind: str, message: str, code: int) -> NoReturn:
    """Print ``cdlog: kind: message`` on stderr (password scrubbed) and exit with ``code``."""
    click.echo(f"cdlog: {kind}: {_scrub(message, ctx)}", err=True)
    if os.environ.get("CDLOG_DEBUG"):
        traceback.print_exc()
    sys.exit(code)


COMMAND_MODULES = {
    "cases": "browse_cmd", "show": "browse_cmd", "replay": "cases_cmd", "demo": "cases_cmd",
    "check-proof": "checkproof_cmd", "keys": "keys_cmd", "log-key": "log_cmd",
    "checkpoint": "log_cmd", "accept-cosignature": "log_cmd", "prove": "log_cmd",
    "witness-key": "log_cmd", "witness": "log_cmd", "export": "log_cmd", "query": "query_cmd",
    "record": "record_cmd", "report": "report_cmd", "restricted": "restricted_cmd",
    "verify": "verify_cmd"}
"""The module of ``cdlog.cli`` that registers each top-level command: a run imports only the
one it needs (start-up time, issue 12); help, and a name not listed, import them all."""


class CdlogGroup(click.Group):
    """A group that turns errors into one-line messages and exit codes, and imports the
    module of a command only when that command is asked for (:data:`COMMAND_MODULES`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, its module imported first."""
        if cmd_name not in self.commands:
            module = COMMAND_MODULES.get(cmd_name)
            if module is None:
                _import_commands(COMMAND_MODULES.values())
            else:
                _import_commands([module])
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command (each module imported)."""
        _import_commands(COMMAND_MODULES.values())
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, mapping errors to exit codes."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "cdlog"
            fail(ctx, "usage", _one_line(f"{exc.format_message()} (see {where} --help)"),
                 EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException):
            raise  # --help, and click's other messages: click prints them
        except (KeyboardInterrupt, click.Abort):
            fail(ctx, "interrupted", "nothing partial was saved", EXIT_INTERRUPTED)
        except VerificationError as exc:
            fail(ctx, "verification failed", exc.diagnostics(), EXIT_FAILED)
        except CdlogError as exc:
            kind = next((k for cls, k, _ in _KINDS if isinstance(exc, cls)),
                        type(exc).__name__)
            fail(ctx, kind, _one_line(exc.diagnostics()), EXIT_USAGE)
        except (PersistenceError, sqlite3.Error) as exc:
            fail(ctx, "store", _one_line(f"{self._store_name(ctx)}: {exc}"), EXIT_USAGE)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail(ctx, "error", _one_line(f"{where}{exc.strerror or exc}"), EXIT_USAGE)
        except Exception as exc:  # a bug: still one line, the traceback on request
            fail(ctx, "internal error", _one_line(
                f"{type(exc).__name__}: {exc} (a bug in cdlog: please report it with the "
                "traceback that CDLOG_DEBUG=1 shows)"), EXIT_USAGE)

    @staticmethod
    def _store_name(ctx: click.Context) -> str:
        env = ctx.find_object(Env)
        try:
            store = env.store if env is not None else resolve_store(None)
        except CdlogError:
            return "the store"
        return str(store.path.resolve()) if store.path is not None else store.redacted


def _import_commands(modules: Iterable[str]) -> None:
    for module in modules:
        importlib.import_module(f"cdlog.cli.{module}")


@click.group(cls=CdlogGroup)
@click.option("--store", envvar="CDLOG_STORE", default=None, metavar="URL",
              help="sqlite:///path.db or postgresql://...; default sqlite:///.cdlog/cdlog.db "
                   "(env CDLOG_STORE).")
@click.option("--config", "config_path", envvar="CDLOG_CONFIG", default=None,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Rule configuration file, YAML or JSON (env CDLOG_CONFIG).")
@click.option("--json-logs", is_flag=True, envvar="CDLOG_JSON_LOGS", help="Log as JSON.")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.version_option(package_name="cdlog",  # and which build of the hot loops is active
                      message=f"%(prog)s, version %(version)s; {native_status()}")
@click.pass_context
def cli(ctx: click.Context, store: str | None, config_path: Path | None, json_logs: bool,
        verbose: int) -> None:
    """cdlog: a tamper-evident record of controlled deliveries and pass-throughs.

    Exit codes: 0 ok; 1 verification found a problem; 2 usage, input, configuration, key or
    store error (nothing written); 130 interrupted (nothing partial written).
    """
    configure(json=json_logs, verbose=verbose)
    ctx.obj = Env(store, config_path)


pass_env = click.make_pass_decorator(Env)


def main() -> None:
    """Console entry point (``cdlog.cli`` registers every command on import)."""
    try:
        cli(prog_name="cdlog")
    except KeyboardInterrupt:  # between commands, or while click parses
        click.echo("cdlog: interrupted: nothing partial was saved", err=True)
        sys.exit(EXIT_INTERRUPTED)
