"""Every question the window asks the user, in one replaceable object.

Tests pass a subclass that answers without showing anything; the window never calls
``QMessageBox``/``QFileDialog`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from .autosave import Recovery

PROJECT_FILTER = "LayerLab projects (*.json);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.pt *.pth *.ckpt);;All files (*)"


class Prompts:
    def __init__(self, parent: QWidget | None = None):
        self.parent = parent

    def error(self, title: str, message: str, details: str = "") -> None:
        """A non-modal error box with a "Show Details…" expander; returns at once."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self.parent)
        box.setWindowModality(Qt.WindowModality.NonModal)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def project_problems(self, source: str, problems: Sequence[str]) -> None:
        head = f"{source} cannot be opened:" if source else "The project cannot be opened:"
        shown = list(problems)[:12]
        more = len(problems) - len(shown)
        body = "\n".join(f"• {p}" for p in shown) + (f"\n… and {more} more" if more > 0 else "")
        self.error("Cannot open project", f"{head}\n\n{body}", "\n".join(problems))

    def ask_save_changes(self, name: str) -> str:
        """"save" | "discard" | "cancel"."""
        b = QMessageBox.StandardButton
        r = QMessageBox.question(
            self.parent, "Unsaved changes", f"Save the changes to “{name}” before closing it?",
            b.Save | b.Discard | b.Cancel, b.Save,
        )
        return {b.Save: "save", b.Discard: "discard"}.get(r, "cancel")

    def ask_restore(self, rec: Recovery) -> str:
        """"restore" | "discard" | "later" (kept for the next start)."""
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Restore unsaved work?")
        text = f"LayerLab did not close cleanly last time. There is an autosave of {rec.describe()}."
        if rec.project_changed:
            text += ("\n\nThe project file was saved after this autosave; restoring opens the autosaved "
                     "version as unsaved changes.")
        if rec.run_dir:
            text += f"\n\nIt was training: the run in {rec.run_dir} is brought back too."
        box.setText(text)
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Decide later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"

    def ask_resume_training(self, run_dir: str, checkpoint: str) -> bool:
        b = QMessageBox.StandardButton
        r = QMessageBox.question(
            self.parent, "Resume training?",
            f"The run in {run_dir} was interrupted. Resume training from the last checkpoint ({checkpoint})?",
            b.Yes | b.No, b.Yes,
        )
        return r == b.Yes

    def ask_yes_no(self, title: str, text: str) -> bool:
        b = QMessageBox.StandardButton
        return QMessageBox.question(self.parent, title, text, b.Yes | b.No, b.No) == b.Yes

    def open_project_path(self, start: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open project", start, PROJECT_FILTER)
        return path or None

    def save_project_path(self, start: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save project as", start, PROJECT_FILTER)
        return path or None

    def model_path(self, start: str, filter: str) -> str | None:
        """A model file to import (File ▸ Import model…)."""
        path, _ = QFileDialog.getOpenFileName(self.parent, "Import model", start, filter)
        return path or None

    def checkpoint_path(self, start: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Resume from checkpoint", start, CHECKPOINT_FILTER)
        return path or None

    def gif_path(self, start: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export as GIF", start, "GIF animation (*.gif)")
        return path or None

    def choose_template(self) -> str | None:
        from .template_picker import TemplatePicker

        dlg = TemplatePicker(self.parent)
        return dlg.selected_name() if dlg.exec() else None
