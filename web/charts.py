"""Charts on pages: pygal bars drawn as SVG on the server, in the site's colours, named for screen readers."""

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

# The site's own colours and type (site.css), so a chart reads as part of the page.
STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1d2433",
    foreground_strong="#1d2433",
    foreground_subtle="#d7dbe2",
    colors=("#1f4fb8", "#1c6b3a", "#8a4b00", "#a3231d", "#4d5565"),
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
)


def bar(title: str, **options) -> pygal.Bar:
    """A bar chart with no script (the page works without JavaScript), 800 wide and scaled down by CSS."""
    return pygal.Bar(
        js=[], disable_xml_declaration=True, title=title, style=STYLE, width=800, print_values=False, **options
    )


def accessible(chart: pygal.Bar, key: str, title: str, desc: str) -> Markup:
    """The SVG as an image named by its title and described by its figures."""
    svg = chart.render(is_unicode=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{key}-title {key}-desc" focusable="false" ', 1)
    svg = svg.replace(f"<title>{escape(title)}</title>", "", 1)
    head = f'<title id="{key}-title">{escape(title)}</title><desc id="{key}-desc">{escape(desc)}</desc>'
    start = svg.index(">") + 1
    return Markup(svg[:start] + head + svg[start:])
