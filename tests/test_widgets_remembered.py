"""The Train widget remembers its budget, advanced settings and open Advanced section the next
time napari starts; a bad file gives the defaults; "Reset to defaults" forgets them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from napari_deconoising.widgets._remembered import CONFIG_DIR_VARIABLE, Remembered, config_dir
from napari_deconoising.widgets.training_form import REMEMBERED, TrainingSettings
from napari_deconoising.widgets.training_widget import REMEMBERED_NAME, TrainingWidget

CHANGED = {"minutes": 2.5, "tv_weight": 0.02, "replacement": "median"}


@pytest.fixture
def config(tmp_path, monkeypatch, home):
    """The folder of the remembered settings: a fresh one, never the user's."""
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_VARIABLE, str(folder))
    return folder


def open_train(make_napari_viewer) -> TrainingWidget:
    """A Train widget in a new viewer (as at the next start of napari)."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    return widget


def values(widget: TrainingWidget) -> dict:
    """The remembered settings as the widget shows them."""
    return {name: getattr(widget.settings, name).value for name in REMEMBERED}


def defaults() -> dict:
    """The remembered settings as a fresh form has them."""
    fresh = TrainingSettings()
    return {name: getattr(fresh, name).value for name in REMEMBERED}


def change(widget: TrainingWidget) -> None:
    """What a user might change: the budget, two advanced settings (and one that follows 2D /
    3D), and open "Advanced settings"."""
    widget.settings.set_values(**CHANGED, patch_size=96)
    widget.advanced.expand(animate=False)


def test_the_config_folder_is_the_variables_else_the_users(config, monkeypatch):
    assert config_dir() == config
    monkeypatch.delenv(CONFIG_DIR_VARIABLE)
    assert config_dir().name == "napari-deconoising"


def test_settings_are_stored_when_training_starts_and_come_back(
    make_napari_viewer, config, notifications
):
    widget = open_train(make_napari_viewer)
    assert not widget.advanced.isExpanded() and values(widget) == defaults()
    change(widget)
    widget.train_button.clicked()  # no image layer: refused at once, but the settings are kept
    assert any("error" in severity.lower() for severity, _ in notifications)
    stored = json.loads((config / f"{REMEMBERED_NAME}.json").read_text())
    assert stored == {"version": 1, **CHANGED, "advanced_open": True}
    widget.close()

    again = open_train(make_napari_viewer)
    assert again.advanced.isExpanded()
    assert values(again) == {**defaults(), **CHANGED}
    assert again.settings.patch_size.value == 64  # follows 2D / 3D: not remembered
    assert again.settings.config().minutes == 2.5


def test_settings_are_stored_when_the_viewer_closes(make_napari_viewer, config):
    widget = open_train(make_napari_viewer)
    change(widget)
    widget.settings.set_values(steps=300)  # the budget in steps
    widget.viewer.close()

    again = open_train(make_napari_viewer)
    assert again.advanced.isExpanded()
    assert values(again) == {**defaults(), **CHANGED, "budget": "steps", "steps": 300}


def test_a_continued_models_architecture_is_not_remembered(make_napari_viewer, config):
    widget = open_train(make_napari_viewer)
    widget.settings.set_values(output_scale=5.0, top_skip=False)
    network = SimpleNamespace(depth=3, start_filters=16, convs_per_level=3, z_context=0)
    network.downsampling, network.top_skip = "blur", True
    model = SimpleNamespace(network=SimpleNamespace(config=network), two_stage=False)
    model.output_scale = 20.0
    widget.settings.follow_model(model, continuing=True)
    assert widget.settings.output_scale.value == 20.0  # the model's, shown
    assert widget.settings.remembered() == {"output_scale": 5.0, "top_skip": False}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"version": 99, "minutes": 2.5}),
        "\udcff",
    ],
    ids=["corrupt", "not-an-object", "other-version", "not-text"],
)
def test_an_unusable_file_gives_the_defaults(make_napari_viewer, config, text):
    config.mkdir()
    path = config / f"{REMEMBERED_NAME}.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    widget = open_train(make_napari_viewer)
    assert values(widget) == defaults() and not widget.advanced.isExpanded()


def test_an_outdated_file_keeps_only_what_still_fits(make_napari_viewer, config):
    Remembered(REMEMBERED_NAME).save(
        {
            "tv_weight": 0.02,  # fits
            "minutes": "lots",  # wrong kind
            "steps": 10**9,  # out of range
            "device": "abacus",  # no such choice
            "seed": True,  # a yes/no for a number
            "learning_rate": float("nan"),
            "patch_size": 96,  # follows 2D / 3D: never recalled
            "retired_setting": 3,
            "advanced_open": "yes",
        }
    )
    widget = open_train(make_napari_viewer)
    assert values(widget) == {**defaults(), "tv_weight": 0.02}
    assert widget.settings.patch_size.value == 64 and not widget.advanced.isExpanded()


def test_reset_restores_the_defaults_and_forgets(make_napari_viewer, config, notifications):
    widget = open_train(make_napari_viewer)
    change(widget)
    widget.train_button.clicked()
    path = config / f"{REMEMBERED_NAME}.json"
    assert path.exists()
    widget.reset_button.clicked()
    assert values(widget) == defaults() and not path.exists()
    assert widget.settings.patch_size.value == 64  # the mode's default again
    assert widget.settings.remembered() == {}
    assert widget.advanced.isExpanded()  # the user is in it

    again = open_train(make_napari_viewer)
    assert values(again) == defaults()


def test_an_unwritable_folder_does_not_stop_training(make_napari_viewer, config, notifications):
    config.write_text("a file where the folder should be")
    widget = open_train(make_napari_viewer)
    change(widget)
    widget.train_button.clicked()  # refused for the missing image only
    errors = [text for severity, text in notifications if "error" in severity.lower()]
    assert errors and all("settings" not in text for text in errors)
