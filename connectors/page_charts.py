"""Charts of the local pages as inline SVG: no script, no font or file from elsewhere, so a page
opens offline and stays one file. Every label is escaped; sizes come from a viewBox, so a
chart shrinks with a narrow screen instead of overflowing it."""

from __future__ import annotations

import html


def yen(value: float) -> str:
    if value >= 100_000_000:
        return f"¥{value / 100_000_000:.2f}億"
    if value >= 10_000:
        return f"¥{value / 10_000:,.0f}万"
    return f"¥{value:,.0f}"


def shown(value: float, unit: str) -> str:
    if unit == "yen":
        return yen(value)
    if unit == "percent":
        return f"{value:.0%}"
    if unit == "rate":  # a KPI read to the tenth of a point (NRR 107.3%)
        return f"{value:.1%}"
    if unit == "ratio":
        return f"{value:.1f}x"
    if unit == "months":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def bars(items: list[tuple[str, float, str]], width: int = 420, unit: str = "") -> str:
    """A horizontal bar chart: (label, value, colour)."""
    top = max((v for _, v, _ in items), default=0) or 1
    row = 28
    label_width = 110
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {row * len(items) + 4}" '
        f'width="100%" style="max-width:{width}px">'
    ]
    for index, (label, value, colour) in enumerate(items):
        y = index * row + 2
        length = (width - label_width - 80) * value / top
        text = shown(value, unit)
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="13">{html.escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="18" '
            f'fill="{colour}"><title>{html.escape(label)}: {text}</title></rect>'
            f'<text x="{label_width + 6 + length:.1f}" y="{y + 17}" font-size="12">{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lines(
    labels: list[str],
    series: list[tuple[str, list[float | None], str]],
    width: int = 460,
    height: int = 200,
    unit: str = "percent",
) -> str:
    """A line chart over `labels` (the x axis, e.g. months): (name, values, colour) per line,
    None where a value is missing (the line breaks there). The y axis spans the values
    shown, with its ends and the legend labelled."""
    known = [v for _, values, _ in series for v in values if v is not None]
    if not labels or not known:
        return ""
    low, high = min(known), max(known)
    if high - low < 1e-9:
        low, high = low - 0.05, high + 0.05
    left, right, top, bottom = 48, 12, 24, 28
    inner_w, inner_h = width - left - right, height - top - bottom
    step = inner_w / max(len(labels) - 1, 1)

    def x(index: int) -> float:
        return left + index * step

    def y(value: float) -> float:
        return top + inner_h * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px">',
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - right}" y2="{top + inner_h}" '
        'stroke="#bdbdbd"/>',
    ]
    for value in (low, high):
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{shown(value, unit)}</text>"
        )
    every = max(1, -(-len(labels) // 4))  # at most five x labels: readable on a phone too
    last = len(labels) - 1
    for index, label in enumerate(labels):
        if index % every == 0 or index == last:
            if 0 < last - index < every:
                continue  # too close to the last label, which is always shown
            anchor = "end" if index == last and last else "start" if index == 0 else "middle"
            parts.append(
                f'<text x="{x(index):.1f}" y="{height - 8}" font-size="11" '
                f'text-anchor="{anchor}">{html.escape(label)}</text>'
            )
    for number, (name, values, colour) in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for index, point in enumerate(values):
            if point is None:
                runs.append([])
                continue
            runs[-1].append((x(index), y(point)))
            parts.append(
                f'<circle cx="{x(index):.1f}" cy="{y(point):.1f}" r="3" fill="{colour}">'
                f"<title>{html.escape(name)} {html.escape(labels[index])}: "
                f"{shown(point, unit)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        parts.append(
            f'<rect x="{left + number * 110}" y="4" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + number * 110 + 16}" y="14" font-size="12">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked(parts: list[tuple[str, float, str]], width: int = 240, height: int = 14) -> str:
    """One bar split into parts (label, value, colour), e.g. a CSM's grade mix."""
    total = sum(value for _, value, _ in parts) or 1
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px">'
    ]
    left = 0.0
    for label, value, colour in parts:
        size = width * value / total
        if size > 0:
            out.append(
                f'<rect x="{left:.1f}" y="0" width="{size:.1f}" height="{height}" '
                f'fill="{colour}"><title>{html.escape(label)}: {value:,.0f}</title></rect>'
            )
        left += size
    out.append("</svg>")
    return "".join(out)
