"""The memory of critiques carried from span to span of one video (shown to the critic and to the planner)."""

from __future__ import annotations

from collections import deque


class CritiqueMemory:
    """The last `size` notes (one per judged span: the chosen candidate's verdict and what was done)."""

    def __init__(self, size: int):
        self.size = size
        self._notes: deque[str] = deque(maxlen=max(size, 1))

    def add(self, note: str) -> None:
        """Remember one note (the oldest is forgotten beyond `size`; nothing is kept when size is 0)."""
        if self.size > 0 and note:
            self._notes.append(note)

    def notes(self) -> list[str]:
        """The remembered notes, oldest first."""
        return list(self._notes) if self.size > 0 else []
