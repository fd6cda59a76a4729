"""``init``: writes the settings file from the environment, so a first run needs no editing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from config.settings import DEFAULT_CONFIG_FILE, SettingsError, load_settings
from config.starter import starter_file
from service.entry.cli.shared import EXIT_SETTINGS, Commands


def add_parser(commands: Commands) -> None:
    command = commands.add_parser(
        "init",
        help="write a lessonloop.toml with rules for the trackers whose secrets are set",
        description="Write the settings file (--config, $LESSONLOOP_CONFIG or ./lessonloop.toml) with a "
        "rule for each tracker whose webhook secret is set in the environment. Asks nothing; refuses to "
        "replace a file that exists unless --force.",
    )
    command.add_argument("--force", action="store_true", help="replace the file if it exists")
    command.set_defaults(run=init, reads_settings=False)  # it writes the settings file: it reads none


def init(args: argparse.Namespace) -> int:
    path = Path(args.config or os.environ.get("LESSONLOOP_CONFIG") or DEFAULT_CONFIG_FILE)
    if path.exists() and not args.force:
        print(f"lessonloop: {path} exists; `lessonloop init --force` replaces it", file=sys.stderr)
        return EXIT_SETTINGS
    text = starter_file(os.environ)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"lessonloop: cannot write {path}: {error.strerror}", file=sys.stderr)
        return EXIT_SETTINGS
    try:
        settings = load_settings(config_file=path)
    except SettingsError as error:  # the environment holds a mistake of its own: say it now
        print(f"wrote {path}; the settings do not load yet: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"wrote {path}: rules for {', '.join(settings.enabled_sources) or 'no tracker'}")
    for note in settings.warnings():
        print(f"warning: {note}")
    print("next: lessonloop check --online")
    return 0
