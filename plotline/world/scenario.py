"""Scenarios: draw ordered events that are possible in sequence, then place and size the object so that it
stays inside the frame and within the size limits throughout; build a scenario from step captions."""

from __future__ import annotations

import random
from collections.abc import Sequence

from plotline.world.actions import ACTIONS, get_action
from plotline.world.config import WorldConfig
from plotline.world.state import Geometry, ObjectState, Scenario
from plotline.world.vocab import DIRECTIONS

FAMILY_WEIGHTS: dict[str, float] = {
    "move": 0.35,
    "turn": 0.25,
    "grow": 0.1,
    "shrink": 0.1,
    "appear": 0.1,
    "disappear": 0.1,
}
"""Relative draw weights of event kinds (moves split evenly over the four directions)."""
START_HIDDEN_PROBABILITY = 0.15
"""Chance that a drawn scenario starts with the object hidden (its first event is then `appear`)."""
MARGIN_PX = 0.5
"""Distance kept between the object and the frame edge."""


class InfeasibleScenario(ValueError):
    """The events cannot be carried out inside the frame and size limits."""


def _kind(name: str) -> str:
    return "move" if name.startswith("move_") else ACTIONS[name].family


def _possible_events(state: ObjectState, colours: Sequence[str], previous: str | None) -> list[str]:
    names = (
        [f"move_{d}" for d in DIRECTIONS] + [f"turn_{c}" for c in colours] + ["grow", "shrink", "appear", "disappear"]
    )
    return [n for n in names if n != previous and get_action(n).possible(state)]


def draw_events(
    rng: random.Random, num_events: int, shape: str, colour: str, colours: Sequence[str]
) -> tuple[bool, tuple[str, ...]]:
    """Draw (starts_visible, events): events possible in sequence, never the same event twice in a row."""
    visible = rng.random() >= START_HIDDEN_PROBABILITY
    state = ObjectState(shape, colour, 0.0, 0.0, 1.0, 1.0 if visible else 0.0)
    events: list[str] = []
    for _ in range(num_events):
        options = _possible_events(state, colours, events[-1] if events else None)
        weights = [FAMILY_WEIGHTS[_kind(n)] / sum(_kind(m) == _kind(n) for m in options) for n in options]
        name = rng.choices(options, weights)[0]
        events.append(name)
        state = get_action(name).apply(state, Geometry(100, 100))
    return visible, tuple(events)


def placement_ranges(events: Sequence[str], geometry: Geometry) -> tuple[tuple[float, float], ...]:
    """Feasible ranges ((size_lo, size_hi), (x_lo, x_hi), (y_lo, y_hi)) of the initial side and centre so every
    state stays inside the frame and the size limits; x/y ranges assume the largest initial size in range."""
    probe = ObjectState("square", "red", 0.0, 0.0, 1.0)
    states = Scenario(probe, tuple(events)).states(geometry)
    scales = [s.size for s in states]
    lo = max(geometry.min_size / min(scales), geometry.min_size)
    hi = min(geometry.max_size / max(scales), geometry.max_size)
    # centre ranges for the largest size (a smaller size only widens them)
    x_lo = max(hi * s.size / 2 - s.x for s in states) + MARGIN_PX
    x_hi = min(geometry.width - hi * s.size / 2 - s.x for s in states) - MARGIN_PX
    y_lo = max(hi * s.size / 2 - s.y for s in states) + MARGIN_PX
    y_hi = min(geometry.height - hi * s.size / 2 - s.y for s in states) - MARGIN_PX
    return (lo, hi), (x_lo, x_hi), (y_lo, y_hi)


def place(
    events: Sequence[str], shape: str, colour: str, visible: bool, geometry: Geometry, rng: random.Random | None = None
) -> Scenario:
    """Scenario with a feasible initial size and centre: drawn uniformly with `rng`, or the middle of each
    feasible range without one. Raises InfeasibleScenario when no placement exists."""
    (s_lo, s_hi), (x_lo, x_hi), (y_lo, y_hi) = placement_ranges(events, geometry)
    if s_lo > s_hi or x_lo > x_hi or y_lo > y_hi:
        raise InfeasibleScenario(f"events {list(events)} do not fit a {geometry.width}x{geometry.height} frame")
    pick = (lambda a, b: rng.uniform(a, b)) if rng else (lambda a, b: (a + b) / 2)
    size = pick(s_lo, s_hi)
    x, y = pick(x_lo, x_hi), pick(y_lo, y_hi)  # feasible for every size up to s_hi
    return Scenario(ObjectState(shape, colour, x, y, size, 1.0 if visible else 0.0), tuple(events))


def sample_scenario(
    rng: random.Random, config: WorldConfig, num_events: int | None = None, max_tries: int = 200
) -> Scenario:
    """Draw a possible, in-frame scenario with `num_events` events (default: uniform in the steps range)."""
    geometry = Geometry.from_config(config)
    for _ in range(max_tries):
        n = num_events or rng.randint(config.min_steps, config.max_steps)
        shape = rng.choice(config.shapes)
        colour = rng.choice(config.colours)
        visible, events = draw_events(rng, n, shape, colour, config.colours)
        try:
            return place(events, shape, colour, visible, geometry, rng)
        except InfeasibleScenario:
            continue
    raise InfeasibleScenario(f"no feasible scenario after {max_tries} draws")


def scenario_from_steps(step_texts: Sequence[str], config: WorldConfig | None = None) -> Scenario:
    """The scenario a list of step captions describes: the subject of the first mention, every parsed event in
    order (`stay` included, it renders as a held span), centred placement. ValueError when unparseable."""
    from plotline.world.parse import parse_text

    config = config or WorldConfig()
    events: list[str] = []
    shape, colour = None, None
    for text in step_texts:
        parsed = parse_text(text)
        if not parsed.events:
            raise ValueError(f"step {text!r} names no event of the shapes world")
        shape = shape or parsed.shape
        colour = colour or parsed.colour
        events.extend(e.action for e in parsed.events)
    if shape is None or colour is None:
        raise ValueError(f"steps {list(step_texts)} do not name a coloured shape")
    visible = events[0] != "appear"
    state = ObjectState(shape, colour, 0.0, 0.0, 1.0, 1.0 if visible else 0.0)
    for name in events:
        if not get_action(name).possible(state):
            raise ValueError(f"event {name!r} is not possible from {state} (steps {list(step_texts)})")
        state = get_action(name).apply(state, Geometry(100, 100))
    return place(events, shape, colour, visible, Geometry.from_config(config))
