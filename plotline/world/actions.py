"""Registry of actions: each knows its phrases, its end state, when it is possible, how the text parser
recognises it, and how strongly a pair of observed frames shows it (the judges' event detector).

Strength is normalised so that one complete event measures 1.0 (a full move, a full grow, a complete
colour change, a complete fade) and no change measures 0; negative values mean the opposite change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plotline.world.state import Geometry, ObjectState
from plotline.world.vocab import COLOUR_SYNONYMS, DIRECTIONS, PALETTE

if TYPE_CHECKING:
    from plotline.world.detect import Observation

Strength = Callable[["Observation", "Observation", Geometry], float]


@dataclass(frozen=True)
class Action:
    """One event type of the world."""

    name: str
    """Registry key, e.g. `move_right`, `turn_blue`, `grow`."""
    family: str
    """Coarse kind used for held-out combinations (`turn` for every colour; moves keep their direction)."""
    present: str
    """Third-person present verb phrase: "moves to the right"."""
    gerund: str
    """Gerund phrase: "moving to the right"."""
    apply: Callable[[ObjectState, Geometry], ObjectState]
    """End state of the event from a start state."""
    possible: Callable[[ObjectState], bool]
    """Whether the event can happen from a state (e.g. appear needs a hidden object)."""
    strength: Strength
    """Normalised evidence of this event between two observed frames (1 = one complete event)."""
    patterns: tuple[str, ...]
    """Regular expressions (case-insensitive) by which the text parser recognises the event."""
    changes: bool = True
    """False for `stay`: the event is shown by the absence of change."""


ACTIONS: dict[str, Action] = {}


def register_action(action: Action) -> Action:
    """Add `action` to the registry (a later registration with the same name replaces it)."""
    ACTIONS[action.name] = action
    return action


def get_action(name: str) -> Action:
    """The registered action `name`, or a KeyError naming the choices."""
    try:
        return ACTIONS[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}; known: {sorted(ACTIONS)}") from None


def families() -> list[str]:
    """Distinct action families of the changing actions, in registry order."""
    return list(dict.fromkeys(a.family for a in ACTIONS.values() if a.changes))


def _both_visible(a: Observation, b: Observation) -> bool:
    return a.visible and b.visible


# --- moves -------------------------------------------------------------------------------------------------
_MOVE_VERBS = (
    r"(?:move|moves|moving|moved|slide|slides|sliding|glide|glides|gliding|go|goes|going|shift|shifts"
    r"|shifting|travel|travels|travelling|traveling|drift|drifts|drifting)"
)
_DIRECTION_WORDS = {
    "left": r"left(?:wards?)?",
    "right": r"right(?:wards?)?",
    "up": r"up(?:wards?)?",
    "down": r"down(?:wards?)?",
}
_EXTRA_MOVE = {
    "up": (r"\b(?:rises|rise|rising|climbs|climbing)\b",),
    "down": (r"\b(?:falls|fall|falling|drops|drop|dropping|sinks|sink|sinking|descends|descending)\b",),
}


def _move(direction: str) -> Action:
    ux, uy = DIRECTIONS[direction]

    def apply(s: ObjectState, g: Geometry) -> ObjectState:
        d = g.move_px(ux, uy)
        return s.with_(x=s.x + ux * d, y=s.y + uy * d)

    def strength(a: Observation, b: Observation, g: Geometry) -> float:
        if not _both_visible(a, b):
            return 0.0
        return ((b.cx - a.cx) * ux + (b.cy - a.cy) * uy) / g.move_px(ux, uy)

    phrase = f"to the {direction}" if direction in ("left", "right") else direction
    pattern = (
        rf"\b{_MOVE_VERBS}\b(?:\s+(?:a\s+bit|a\s+little|slightly|quickly|slowly|smoothly|steadily|over|across))?"
        rf"\s+(?:(?:to|towards?)\s+the\s+|towards?\s+)?{_DIRECTION_WORDS[direction]}\b"
    )
    return Action(
        f"move_{direction}",
        f"move_{direction}",
        f"moves {phrase}",
        f"moving {phrase}",
        apply,
        lambda s: s.visible,
        strength,
        (pattern, *_EXTRA_MOVE.get(direction, ())),
    )


for _d in DIRECTIONS:
    register_action(_move(_d))


# --- colour changes ----------------------------------------------------------------------------------------
def _turn(colour: str) -> Action:
    def strength(a: Observation, b: Observation, g: Geometry) -> float:
        if not _both_visible(a, b) or a.colour == colour:
            return 0.0
        return b.colour_fraction(colour) - a.colour_fraction(colour)

    words = "|".join(sorted((w for w, c in COLOUR_SYNONYMS.items() if c == colour), key=len, reverse=True))
    pattern = (
        r"\b(?:turns|turn|turning|turned|becomes|become|becoming|changes\s+(?:colou?r\s+)?(?:in)?to"
        r"|change\s+(?:colou?r\s+)?(?:in)?to|changing\s+(?:colou?r\s+)?(?:in)?to|goes|going)"
        rf"\s+(?:(?:a|an)\s+)?(?:{words})\b"
    )
    return Action(
        f"turn_{colour}",
        "turn",
        f"turns {colour}",
        f"turning {colour}",
        lambda s, g: s.with_(colour=colour),
        lambda s: s.visible and s.colour != colour,
        strength,
        (pattern,),
    )


for _c in PALETTE:
    register_action(_turn(_c))


# --- size ----------------------------------------------------------------------------------------------------
def _log_area_ratio(a: Observation, b: Observation, g: Geometry) -> float:
    if not _both_visible(a, b) or a.area <= 0 or b.area <= 0:
        return 0.0
    return math.log(b.area / a.area) / g.log_area_per_scale


_BIGGER = r"(?:bigger|larger)"
_SMALLER = r"(?:smaller|tinier)"
register_action(
    Action(
        "grow",
        "grow",
        "grows",
        "growing",
        lambda s, g: s.with_(size=s.size * g.scale_factor),
        lambda s: s.visible,
        _log_area_ratio,
        (
            (
                rf"\b(?:grows|grow|growing|grew|expands|expand|expanding|enlarges|enlarge|enlarging"
                rf"|(?:gets|get|getting|becomes|become|becoming|grows|growing)\s+{_BIGGER})\b"
            ),
        ),
    )
)
register_action(
    Action(
        "shrink",
        "shrink",
        "shrinks",
        "shrinking",
        lambda s, g: s.with_(size=s.size / g.scale_factor),
        lambda s: s.visible,
        lambda a, b, g: -_log_area_ratio(a, b, g),
        (
            (
                rf"\b(?:shrinks|shrink|shrinking|shrank|contracts|contract|contracting"
                rf"|(?:gets|get|getting|becomes|become|becoming)\s+{_SMALLER})\b"
            ),
        ),
    )
)

# --- visibility ----------------------------------------------------------------------------------------------
register_action(
    Action(
        "appear",
        "appear",
        "appears",
        "appearing",
        lambda s, g: s.with_(alpha=1.0),
        lambda s: not s.visible,
        lambda a, b, g: b.brightness - a.brightness,
        (
            (
                r"\b(?:appears|appear|appearing|appeared|fades\s+in|fade\s+in|fading\s+in|shows\s+up|showing\s+up"
                r"|emerges|emerging)\b"
            ),
        ),
    )
)
register_action(
    Action(
        "disappear",
        "disappear",
        "disappears",
        "disappearing",
        lambda s, g: s.with_(alpha=0.0),
        lambda s: s.visible,
        lambda a, b, g: a.brightness - b.brightness,
        (
            (
                r"\b(?:disappears|disappear|disappearing|disappeared|vanishes|vanish|vanishing|fades\s+(?:out|away)"
                r"|fade\s+(?:out|away)|fading\s+(?:out|away))\b"
            ),
        ),
    )
)

# --- no change (plans may fill spare spans with it; the generator never draws it) ---------------------------
register_action(
    Action(
        "stay",
        "stay",
        "stays still",
        "staying still",
        lambda s, g: s,
        lambda s: True,
        lambda a, b, g: 0.0,
        (
            (
                r"\b(?:stays|stay|staying|remains|remain|remaining|rests|rest|resting|holds|hold|holding|sits|sitting)"
                r"\s+(?:still|put|in\s+place|where\s+it\s+is|motionless|unchanged)\b"
            ),
            r"\b(?:does\s+not|doesn't)\s+(?:move|change)\b",
        ),
        changes=False,
    )
)
