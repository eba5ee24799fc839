"""Layout checks for the browser tests: what a person sees must be on the screen and must not
overlap. Boxes come from the real rendering (Playwright's bounding boxes in CSS pixels)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(os.environ.get("DSAR_VAR_DIR", "var/test")) / "screenshots"


@dataclass(frozen=True)
class Box:
    name: str
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def overlaps(self, other: Box) -> bool:
        # Touching edges (a shared pixel row) is not overlapping.
        return (
            self.x < other.right - 0.5
            and other.x < self.right - 0.5
            and self.y < other.bottom - 0.5
            and other.y < self.bottom - 0.5
        )


def box(locator: Any, name: str) -> Box:
    found = locator.bounding_box()
    assert found is not None, f"{name} is not rendered"
    return Box(name, found["x"], found["y"], found["width"], found["height"])


def boxes(locator: Any, name: str) -> list[Box]:
    return [box(locator.nth(n), f"{name} #{n + 1}") for n in range(locator.count())]


def assert_within_width(page: Any, items: list[Box]) -> None:
    """Every box lies between the left and the right edge of the viewport."""
    width = page.viewport_size["width"]
    outside = [b for b in items if b.x < -0.5 or b.right > width + 0.5 or b.width <= 0]
    assert not outside, f"outside the {width}px viewport: {outside}"


def assert_apart(items: list[Box]) -> None:
    """No two boxes overlap."""
    clashes = [(a, b) for i, a in enumerate(items) for b in items[i + 1 :] if a.overlaps(b)]
    assert not clashes, f"overlapping: {clashes}"


def assert_no_sideways_scrolling(page: Any, name: str = "the page") -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} is {overflow}px wider than the screen"


def assert_text_fits(locator: Any, name: str) -> None:
    """The element's own text does not run out of its box (a long word, a German heading)."""
    spill = locator.evaluate("(el) => el.scrollWidth - el.clientWidth")
    assert spill <= 0, f"{name} overflows its box by {spill}px"


def screenshot(page: Any, name: str) -> Path:
    """Keep a full-page picture for people to look at (under DSAR_VAR_DIR/screenshots)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    # And the first screen alone, as the person sees it on arrival.
    page.screenshot(path=str(SCREENSHOTS / f"{name}-first-screen.png"))
    return path
