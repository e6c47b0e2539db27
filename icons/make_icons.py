"""Draws acebridge's icons: the app icon in the sizes the bundlers want, and
the tray icon in one colour per state (idle, streaming, engine down).

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


def draw(size: int, colour) -> Image.Image:
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
    pen.polygon(triangle, fill=(255, 255, 255, 255))
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
    for name, colour in STATES.items():
        draw(64, colour).save(HERE / f"{name}.png")


if __name__ == "__main__":
    main()
