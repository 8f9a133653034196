"""Settings a widget remembers from one napari session to the next.

Each widget's are a small JSON object in ``<config folder>/<name>.json``: the user's config
folder for this plugin (from ``platformdirs``, e.g. ``~/.config/napari-deconoising`` on
Linux), or the folder named by the environment variable :data:`CONFIG_DIR_VARIABLE`.

Reading never fails: a missing, unreadable, corrupt or outdated file reads as no values (said
at debug level), and writing failures are logged, never raised. Which values a widget accepts
is its own business (it skips the ones it does not know).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

#: Environment variable naming the folder of the remembered settings (tests, portable set-ups).
CONFIG_DIR_VARIABLE = "NAPARI_DECONOISING_CONFIG_DIR"
APP_NAME = "napari-deconoising"
#: Format version written in every file; a file of another version reads as no values.
VERSION = 1
_VERSION_KEY = "version"


def config_dir() -> Path:
    """The folder of the remembered settings (not created here)."""
    folder = os.environ.get(CONFIG_DIR_VARIABLE)
    if folder:
        return Path(folder).expanduser()
    try:
        import platformdirs
    except ImportError:  # napari depends on it; a fallback all the same
        return Path.home() / ".config" / APP_NAME
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


class Remembered:
    """The remembered values of one widget, ``<config folder>/<name>.json``."""

    def __init__(self, name: str):
        self.name = name

    @property
    def path(self) -> Path:
        """The file (the folder is looked up on every use: the environment may change)."""
        return config_dir() / f"{self.name}.json"

    def load(self) -> dict[str, Any]:
        """The stored values by name; an empty dict when there are none or they are unusable."""
        path = self.path
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as err:
            _log.debug("ignoring the remembered settings in %s: %s", path, err)
            return {}
        if not isinstance(stored, dict) or stored.pop(_VERSION_KEY, None) != VERSION:
            _log.debug("ignoring the remembered settings in %s: not of version %d", path, VERSION)
            return {}
        return stored

    def save(self, values: dict[str, Any]) -> None:
        """Store ``values`` (JSON types), replacing the file at once (never half written)."""
        path = self.path
        text = json.dumps({_VERSION_KEY: VERSION, **values}, indent=2, sort_keys=True)
        partial = path.with_name(f"{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(text + "\n", encoding="utf-8")
            os.replace(partial, path)
        except OSError as err:
            _log.warning("could not remember the settings in %s: %s", path, err)

    def forget(self) -> None:
        """Delete the stored values."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            _log.warning("could not forget the settings in %s: %s", self.path, err)
