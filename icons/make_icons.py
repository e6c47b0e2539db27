"""Draws acebridge's icons: the app icon in the sizes the bundlers want, and
the tray icon per state. The states differ in shape as well as colour, so
they stay apart for colour-blind users and on monochrome panels: idle is the
app icon, streaming adds a "live" dot in a notch at the top right, recording
fills that notch with a larger solid red dot ringed in white (the usual record
mark, a filled disc where streaming has a ring), engine down is a warning
triangle with an exclamation mark.

Run once after changing the design (`pip install pillow`); the PNGs are committed
so building the app needs no Python.
"""
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
SCALE = 8  # draw large, then downsample: smooth edges without an SVG renderer

STATES = {
    "tray-idle": (70, 110, 200),
    "tray-streaming": (30, 150, 80),
    "tray-engine-down": (200, 60, 50),
}
# The record mark's red, brighter than the engine-down red so the two differ.
RECORD_RED = (230, 30, 40)


WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def draw(size: int, colour, live: bool = False, recording: bool = False) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pad = big * 0.04
    pen.rounded_rectangle(
        (pad, pad, big - pad, big - pad), radius=big * 0.22, fill=colour + (255,)
    )
    # A bridge arc over the play triangle: one stream, many players.
    arc = (big * 0.18, big * 0.16, big * 0.82, big * 0.80)
    pen.arc(arc, start=200, end=340, fill=(255, 255, 255, 255), width=int(big * 0.07))
    triangle = [
        (big * 0.38, big * 0.40),
        (big * 0.38, big * 0.80),
        (big * 0.72, big * 0.60),
    ]
    pen.polygon(triangle, fill=WHITE)
    if live:
        # A notch cut out of the corner, holding a white dot ringed in colour.
        centre, notch, dot = big * 0.80, big * 0.22, big * 0.15
        pen.ellipse(
            (centre - notch, big * 0.20 - notch, centre + notch, big * 0.20 + notch),
            fill=CLEAR,
        )
        pen.ellipse(
            (centre - dot, big * 0.20 - dot, centre + dot, big * 0.20 + dot),
            fill=colour + (255,),
        )
        inner = dot * 0.55
        pen.ellipse(
            (centre - inner, big * 0.20 - inner, centre + inner, big * 0.20 + inner),
            fill=WHITE,
        )
    if recording:
        # A larger notch holding a solid red disc in a white ring: the record
        # mark, readable on dark and light panels and without colour.
        centre_x, centre_y = big * 0.76, big * 0.24
        notch, ring, dot = big * 0.27, big * 0.22, big * 0.16
        pen.ellipse(
            (centre_x - notch, centre_y - notch, centre_x + notch, centre_y + notch),
            fill=CLEAR,
        )
        pen.ellipse(
            (centre_x - ring, centre_y - ring, centre_x + ring, centre_y + ring),
            fill=WHITE,
        )
        pen.ellipse(
            (centre_x - dot, centre_y - dot, centre_x + dot, centre_y + dot),
            fill=RECORD_RED + (255,),
        )
    return image.resize((size, size), Image.LANCZOS)


def draw_warning(size: int, colour) -> Image.Image:
    """A rounded warning triangle with "!": a shape of its own."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), CLEAR)
    pen = ImageDraw.Draw(image)
    corners = [(big * 0.5, big * 0.06), (big * 0.97, big * 0.92), (big * 0.03, big * 0.92)]
    pen.polygon(corners, fill=colour + (255,))
    # Round the corners with a thick outline of the same colour.
    pen.line(corners + [corners[0]], fill=colour + (255,), width=int(big * 0.06), joint="curve")
    bar = big * 0.055
    pen.rounded_rectangle(
        (big * 0.5 - bar, big * 0.32, big * 0.5 + bar, big * 0.66), radius=bar, fill=WHITE
    )
    pen.ellipse((big * 0.5 - bar, big * 0.73, big * 0.5 + bar, big * 0.73 + 2 * bar), fill=WHITE)
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    app = STATES["tray-idle"]
    for name, size in [
        ("32x32.png", 32),
        ("128x128.png", 128),
        ("128x128@2x.png", 256),
        ("icon.png", 512),
    ]:
        draw(size, app).save(HERE / name)
    # Windows wants a multi-size .ico (tauri-build embeds it in the .exe's
    # resources), macOS an .icns; both are cut from one large drawing.
    large = draw(1024, app)
    large.save(HERE / "icon.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    large.save(HERE / "icon.icns")
    draw(64, STATES["tray-idle"]).save(HERE / "tray-idle.png")
    draw(64, STATES["tray-streaming"], live=True).save(HERE / "tray-streaming.png")
    draw(64, STATES["tray-streaming"], recording=True).save(HERE / "tray-recording.png")
    draw_warning(64, STATES["tray-engine-down"]).save(HERE / "tray-engine-down.png")


if __name__ == "__main__":
    main()
