"""Small charts as inline SVG, drawn on the server: no JavaScript, no CDN.

Each function returns markup safe to put in a template. Labels are escaped; every
bar and point has a <title>, so hovering shows the exact figure.
"""

from django.template.defaultfilters import filesizeformat
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
PALETTE = ["#417690", "#79aec8", "#e0a030", "#9bc462", "#c75f5f", "#8e6fb3", "#5fb3a9", "#b0a090"]


def human(value: float, unit: str) -> str:
    return filesizeformat(value) if unit == "bytes" else f"{int(value):,}"


def _nice_max(value: float, unit: str = "count") -> float:
    """A round top for the axis, four grid steps above zero: each step is 1, 2, 2.5 or 5
    times a power of ten, so every grid line is a round figure (a count's steps are whole
    numbers, or a bar of 4 would sit among the labels 3.75 and 5 shown as 3 and 5)."""
    if value <= 0:
        return 4
    magnitude = 1
    while magnitude * 10 < value / 4:
        magnitude *= 10
    while True:
        for step in (1, 2, 2.5, 5):
            size = step * magnitude
            if unit == "count" and size != int(size):
                continue
            if 4 * size >= value:
                return 4 * size
        magnitude *= 10


def _frame(inner: str, *, label: str, top: float, unit: str, first: str, last: str) -> SafeString:
    plot_h = HEIGHT - TOP - BOTTOM
    grid = []
    for n in range(5):
        y = TOP + plot_h * n / 4
        value = top * (4 - n) / 4
        grid.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">'
                    f'{escape(human(value, unit))}</text>')
    axis = (f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#666">{escape(first)}</text>'
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="11" fill="#666" text-anchor="end">'
            f'{escape(last)}</text>')
    return mark_safe(
        f'<svg class="stratus-chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{escape(label)}</title>{"".join(grid)}{inner}{axis}</svg>')


def bar_chart(points: list[tuple[str, float]], *, label: str, unit: str = "count", color: str = PALETTE[0]) -> SafeString:
    """Vertical bars, one per point (e.g. uploads per day)."""
    top = _nice_max(max((value for _, value in points), default=0), unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(points))
    bars = []
    for n, (name, value) in enumerate(points):
        h = plot_h * value / top
        x = LEFT + n * slot + slot * 0.15
        bars.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="{color}"><title>{escape(name)}: {escape(human(value, unit))}</title></rect>')
    first, last = (points[0][0], points[-1][0]) if points else ("", "")
    return _frame("".join(bars), label=label, top=top, unit=unit, first=first, last=last)


def line_chart(points: list[tuple[str, float]], *, label: str, unit: str = "bytes", color: str = PALETTE[0]) -> SafeString:
    """A filled line (e.g. cumulative storage)."""
    top = _nice_max(max((value for _, value in points), default=0), unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(points) - 1)
    xy = [(LEFT + n * step, TOP + plot_h - plot_h * value / top) for n, (_, value) in enumerate(points)]
    if not xy:
        return _frame("", label=label, top=top, unit=unit, first="", last="")
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    area = f"{xy[0][0]:.1f},{TOP + plot_h} {line} {xy[-1][0]:.1f},{TOP + plot_h}"
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(name)}: '
                   f'{escape(human(value, unit))}</title></circle>'
                   for (x, y), (name, value) in zip(xy, points, strict=True))
    inner = (f'<polygon points="{area}" fill="{color}" fill-opacity="0.15"/>'
             f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>{dots}')
    return _frame(inner, label=label, top=top, unit=unit, first=points[0][0], last=points[-1][0])


def share_bars(parts: list[tuple[str, float]], *, label: str, unit: str = "bytes") -> SafeString:
    """Horizontal bars with their share of the total (e.g. bytes per file type)."""
    total = sum(value for _, value in parts) or 1
    row_h, width, name_w = 26, WIDTH, 110
    height = row_h * max(1, len(parts)) + 8
    rows = []
    for n, (name, value) in enumerate(parts):
        y = 4 + n * row_h
        w = (width - name_w - 170) * value / total
        share = 100.0 * value / total
        rows.append(
            f'<text x="{name_w - 8}" y="{y + 17}" text-anchor="end" font-size="12">{escape(name)}</text>'
            f'<rect x="{name_w}" y="{y + 4}" width="{max(w, 0.5):.1f}" height="{row_h - 8}" '
            f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(name)}: {escape(human(value, unit))}</title></rect>'
            f'<text x="{name_w + w + 6:.1f}" y="{y + 17}" font-size="11" fill="#444">'
            f'{escape(human(value, unit))} ({share:.1f} %)</text>')
    return mark_safe(
        f'<svg class="stratus-chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{"".join(rows)}</svg>')
