"""A studio window for GUI tests that never asks a real question and never trains."""

from __future__ import annotations

import pytest

from app.prompts import Prompts


class QuietPrompts(Prompts):
    """Answers every question without a dialog and records the errors it was shown."""

    def __init__(self):
        super().__init__(None)
        self.errors: list[tuple[str, str, str]] = []
        self.problems: list[tuple[str, list[str]]] = []
        self.paths: dict[str, str | None] = {}

    def error(self, title, message, details=""):
        self.errors.append((title, message, details))

    def project_problems(self, source, problems):
        self.problems.append((source, list(problems)))

    def ask_save_changes(self, name):
        return "discard"

    def ask_restore(self, rec):
        return False

    def ask_yes_no(self, title, text):
        return True

    def open_project_path(self, start):
        return self.paths.get("open")

    def save_project_path(self, start):
        return self.paths.get("save")

    def checkpoint_path(self, start):
        return self.paths.get("checkpoint")

    def model_path(self, start, filter):
        return self.paths.get("model")

    def gif_path(self, start):
        return self.paths.get("gif")

    def choose_template(self):
        return self.paths.get("template", "mlp")


@pytest.fixture
def studio(qtbot, tmp_home):
    """``studio(template="mlp")`` -> a shown MainWindow with that template open (or none: None)."""
    from app.bridge import RunnerBridge
    from app.window import MainWindow

    made = []

    def make(template: str | None = "mlp", view: str | None = "train", **kw):
        bridge = RunnerBridge(factory=lambda mode: pytest.fail("this test does not train"), interval_ms=20)
        win = MainWindow(prompts=QuietPrompts(), bridge=bridge, probe_devices=False, **kw)
        qtbot.addWidget(win)
        if template:
            assert win.new_project(template)
        win.tabs.setCurrentWidget(win.train_view)  # the tests here are about the Train view and the window
        win.show()
        if view == "train":  # these tests are about the Train view (the window opens on the Designer)
            win.tabs.setCurrentWidget(win.train_view)
        made.append(win)
        return win

    yield make
    for w in made:
        w.shutdown()


class PlayedRunner:
    """A runner that plays back the events ``script(run_dir, resume)`` returns, then is done."""

    def __init__(self, script):
        self.script = script
        self.events: list = []
        self.started_with: dict = {}

    @property
    def running(self) -> bool:
        return bool(self.events)

    def start(self, project, run_dir, *, resume=None, overrides=None):
        self.started_with = {"project": project, "run_dir": run_dir, "resume": resume}
        self.events = list(self.script(run_dir, resume))

    def poll(self, max_events=1000):
        out, self.events = self.events[:max_events], self.events[max_events:]
        return out

    def pause(self):
        pass

    def resume(self):
        pass

    def stop(self):
        pass

    def request_snapshot(self):
        pass

    def join(self, timeout=None):
        pass

    def close(self):
        pass


@pytest.fixture
def played_studio(qtbot, tmp_home):
    """``played_studio(script, template)`` -> a window whose Train plays ``script``'s events."""
    from app.bridge import RunnerBridge
    from app.window import MainWindow

    made = []

    def make(script, template: str | None = "mlp", view: str | None = "train"):
        bridge = RunnerBridge(factory=lambda mode: PlayedRunner(script), interval_ms=10)
        win = MainWindow(prompts=QuietPrompts(), bridge=bridge, probe_devices=False)
        qtbot.addWidget(win)
        if template:
            assert win.new_project(template)
        win.tabs.setCurrentWidget(win.train_view)
        win.show()
        if view == "train":  # these tests are about the Train view (the window opens on the Designer)
            win.tabs.setCurrentWidget(win.train_view)
        made.append(win)
        return win

    yield make
    for w in made:
        w.shutdown()
