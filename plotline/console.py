"""The consoles every `plotline` command prints through: rich formatting at the terminal's width on a terminal,
and plain, full-width text when the stream is a pipe or a file (no wrapping, no `…` truncation), so scripts that
read the output (`plotline stage --list | cat`, CliRunner in tests) see every value whole. `COLUMNS` is respected
in both cases."""

from __future__ import annotations

import os

from rich.console import Console, ConsoleDimensions

PIPE_WIDTH = 10_000
"""Width used off a terminal when `COLUMNS` is not set: wide enough that no table cell or line is ever cut."""


def _columns() -> int | None:
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class CliConsole(Console):
    """A rich Console whose size is decided at print time: the terminal's (or `COLUMNS`) on a terminal; `COLUMNS`
    or PIPE_WIDTH elsewhere, where without COLUMNS long lines are written as they are (soft wrapping)."""

    @property
    def size(self) -> ConsoleDimensions:
        """The console's (width, height): see the class docstring."""
        if self._width is not None and self._height is not None:
            return ConsoleDimensions(self._width, self._height)
        if self.is_terminal:
            return super().size
        return ConsoleDimensions(_columns() or PIPE_WIDTH, 25)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        """Fix the console's (width, height), as rich's own setter does."""
        self._width, self._height = new_size

    @property
    def soft_wrap(self) -> bool:
        """Soft wrapping (no word wrap, no cropping) is the default off a terminal unless COLUMNS sets a width."""
        return self._soft_wrap or (not self.is_terminal and _columns() is None)

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        """Ask for soft wrapping everywhere (rich's constructor argument)."""
        self._soft_wrap = value


def make_console(stderr: bool = False) -> CliConsole:
    """A CliConsole on stdout (or stderr). Width is never frozen at construction, so `COLUMNS` set later counts."""
    c = CliConsole(stderr=stderr)
    c._width = None  # rich copies COLUMNS at construction; this console reads it at print time instead
    return c


console = make_console()
"""Standard output of every command."""
err = make_console(stderr=True)
"""Standard error of every command (errors, warnings)."""
