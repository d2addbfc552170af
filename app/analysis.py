"""Live checking: ``engine.graph.analyze_project`` after every document change, debounced.

Edits arrive in bursts (a drag, typing in the inspector, a paste); the analysis runs once after the
burst, on the Qt thread (it is pure Python and takes a few milliseconds for a 300-node graph; see
bench/designer_latency.py), and ``analyzed`` hands every view the same results: the designer's
shapes and badges, the project panel, the status totals.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger("layerlab.studio.analysis")


class AnalysisService(QObject):
    analyzed = Signal(dict)  # {graph_path: CompileResult}

    def __init__(self, doc: Any, parent: QObject | None = None, debounce_ms: int = 15):
        super().__init__(parent)
        self.doc = doc
        self.results: dict[str, Any] = {}
        self.last_ms = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.run_now)
        doc.graphChanged.connect(lambda _g: self.schedule())
        doc.blocksChanged.connect(self.schedule)
        doc.fieldChanged.connect(lambda _p: self.schedule())
        doc.replaced.connect(self.run_now)

    def schedule(self) -> None:
        self._timer.start()

    def run_now(self) -> dict[str, Any]:
        self._timer.stop()
        project = self.doc.project
        if project is None:
            self.results = {}
        else:
            from engine.graph import analyze_project

            t0 = time.perf_counter()
            try:
                self.results = analyze_project(project)
            except Exception:  # noqa: BLE001 - analyze never raises; a bug here must not take views down
                log.exception("analysis failed")
                self.results = {}
            self.last_ms = (time.perf_counter() - t0) * 1000
        self.analyzed.emit(self.results)
        return self.results
