#!/usr/bin/env python3
"""Draws masim's app art into assets/: the window icon and one glyph per agent kind (used
in the on-screen legend). Run from the repository root with Pillow installed:
    python3 scripts/make_assets.py
The PNGs are committed and embedded in the binary (src/gui/assets.rs), so the app needs
no files at run time. Shapes are drawn at 4x and downsampled for smooth edges."""
from PIL import Image, ImageDraw

S = 4  # supersampling


def canvas(size):
    return Image.new("RGBA", (size * S, size * S), (0, 0, 0, 0))


def save(img, size, path):
    img.resize((size, size), Image.LANCZOS).save(path, optimize=True)


def icon(size=64):
    # Agents (dots) on a ring, linked by messages: masim's subject in one picture.
    im = canvas(size)
    d = ImageDraw.Draw(im)
    c = size * S / 2
    d.ellipse([2 * S, 2 * S, size * S - 2 * S, size * S - 2 * S], fill=(28, 32, 40, 255))
    import math
    r = size * S * 0.32
    pts = []
    for k in range(7):
        a = 2 * math.pi * k / 7 - math.pi / 2
        pts.append((c + r * math.cos(a), c + r * math.sin(a)))
    for i in range(7):
        for j in (i + 2, i + 3):
            a, b = pts[i], pts[j % 7]
            d.line([a, b], fill=(77, 217, 255, 150), width=int(1.2 * S))
    colors = [(230, 60, 50), (250, 200, 40), (60, 220, 90), (60, 220, 90), (250, 200, 40), (60, 220, 90), (60, 140, 255)]
    for (x, y), col in zip(pts, colors):
        rr = size * S * 0.075
        d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=col + (255,), outline=(240, 240, 240, 255), width=S)
    return im


def vehicle(size=32):
    im = canvas(size)
    d = ImageDraw.Draw(im)
    w, h = size * S, size * S
    d.rounded_rectangle([0.12 * w, 0.3 * h, 0.88 * w, 0.7 * h], radius=0.08 * w, fill=(60, 220, 90, 255))
    # Heading: a notch at the front.
    d.polygon([(0.88 * w, 0.3 * h), (0.98 * w, 0.5 * h), (0.88 * w, 0.7 * h)], fill=(60, 220, 90, 255))
    return im


def controller(size=32):
    im = canvas(size)
    d = ImageDraw.Draw(im)
    w = size * S
    d.rectangle([0.22 * w, 0.22 * w, 0.78 * w, 0.78 * w], fill=(64, 140, 255, 255))
    return im


def traffic_light(size=32):
    im = canvas(size)
    d = ImageDraw.Draw(im)
    w = size * S
    d.rounded_rectangle([0.32 * w, 0.06 * w, 0.68 * w, 0.94 * w], radius=0.08 * w, fill=(13, 13, 15, 255))
    for k, col in enumerate([(240, 30, 25), (255, 215, 25), (40, 230, 75)]):
        y = 0.2 + 0.3 * k
        d.ellipse([0.38 * w, (y - 0.1) * w, 0.62 * w, (y + 0.1) * w], fill=col + (255,))
    return im


def crashed(size=32):
    im = canvas(size)
    d = ImageDraw.Draw(im)
    w = size * S
    d.line([(0.2 * w, 0.2 * w), (0.8 * w, 0.8 * w)], fill=(140, 50, 190, 255), width=int(0.14 * w))
    d.line([(0.2 * w, 0.8 * w), (0.8 * w, 0.2 * w)], fill=(140, 50, 190, 255), width=int(0.14 * w))
    return im


if __name__ == "__main__":
    save(icon(), 64, "assets/icon.png")
    for name, f in [("vehicle", vehicle), ("controller", controller), ("traffic_light", traffic_light), ("crashed", crashed)]:
        save(f(), 32, f"assets/glyphs/{name}.png")
