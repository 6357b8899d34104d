"""Plain text from the admin → safe HTML: blank line = paragraph, "## " = heading, "- " = list.

Everything is escaped first; only our own tags are added (and links made by Django's urlize),
so a help page can never carry a script, whatever is typed in the admin.
"""

from django.utils.html import escape, urlize
from django.utils.safestring import SafeString, mark_safe


def render(text: str, *, heading_level: int = 2, values: dict[str, str] | None = None) -> SafeString:
    """`values`: {name: text} put in for "{name}" (escaped like the rest), e.g. {refund_days}."""
    text = text or ""
    for name, value in (values or {}).items():
        text = text.replace("{" + name + "}", str(value))
    blocks, html = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")], []
    for block in filter(None, blocks):
        lines = block.split("\n")
        if block.startswith("## "):
            html.append(f"<h{heading_level}>{escape(lines[0][3:].strip())}</h{heading_level}>")
            lines = lines[1:]
            if not lines:
                continue
        if all(line.startswith("- ") for line in lines):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
            html.append(f"<ul>{items}</ul>")
        else:
            html.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return mark_safe("\n".join(html))  # noqa: S308 - every piece escaped above


def _inline(line: str) -> str:
    return urlize(escape(line.strip()), autoescape=False)
