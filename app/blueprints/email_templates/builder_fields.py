"""What the builder shows for each block type: its palette entry, its default content, and
the fields of its properties panel. The kinds of value come from the design schema, so the
panel can never offer a prop the validator would refuse."""

from app.services.designs.schema import PROPS, SAFE_FONTS, SOCIAL_NETWORKS

# Palette groups, in order: (group label, [(type, label, Tabler icon, short description)]).
PALETTE = (
    (
        "Layout",
        (
            ("section", "Columns", "columns", "Two columns side by side (up to four)"),
            ("container", "Container", "box", "A coloured band holding other blocks"),
            ("divider", "Divider", "separator", "A horizontal rule"),
            ("spacer", "Spacer", "arrows-vertical", "Empty vertical space"),
        ),
    ),
    (
        "Content",
        (
            ("header", "Heading", "heading", "A title (H1 to H3)"),
            ("text", "Text", "align-left", "A paragraph with bold, italic and links"),
            ("image", "Image", "photo", "An image, optionally linked"),
            ("button", "Button", "click", "A call to action"),
            ("link", "Link", "link", "A text link"),
        ),
    ),
    (
        "Rich",
        (
            ("hero", "Hero", "layout-navbar", "Title, subtitle, image and a button"),
            ("social", "Social links", "share", "Links to your social profiles"),
            ("footer", "Footer", "layout-bottombar", "Address and the unsubscribe link"),
        ),
    ),
    (
        "Dynamic",
        (
            ("variable", "Variable", "braces", "A subscriber field, with a fallback"),
            ("conditional", "Condition", "git-branch", "Shown only when a condition holds"),
            ("loop", "Repeat", "repeat", "Repeated for each item (cart items, articles)"),
        ),
    ),
)
TYPE_LABELS = {t: label for _, items in PALETTE for t, label, _, _ in items} | {"column": "Column"}
TYPE_ICONS = {t: icon for _, items in PALETTE for t, _, icon, _ in items} | {"column": "layout-columns"}

# What a block holds when it is dropped in: always valid, so the design saves at once.
DEFAULT_PROPS = {
    "container": {"backgroundColor": "#f1f5f9", "padding": "16px 0px"},
    "section": {"padding": "20px 0px"},
    "column": {},
    "divider": {"color": "#dddddd", "thickness": 1},
    "spacer": {"height": 24},
    "header": {"text": "A clear headline", "level": 2, "align": "left", "color": "#222222"},
    "text": {
        "text": "Write something worth reading. Use <b>bold</b>, <i>italic</i> and "
        '<a href="https://example.com">links</a>.',
        "align": "left",
        "color": "#333333",
        "fontSize": 16,
    },
    "image": {"src": "{base_url}/static/img/builder/placeholder.png", "alt": "Describe the image"},
    "button": {
        "text": "Shop now",
        "href": "https://example.com",
        "backgroundColor": "#1a73e8",
        "color": "#ffffff",
        "align": "center",
    },
    "link": {"text": "Read more", "href": "https://example.com"},
    "hero": {
        "title": "Big news",
        "subtitle": "One line that makes people want to read on.",
        "buttonText": "Find out more",
        "buttonHref": "https://example.com",
        "backgroundColor": "#eef4ff",
    },
    "footer": {
        "text": "You receive this email because you signed up on our website.",
        "address": "Your company · Street 1 · City",
        "showUnsubscribe": True,
        "showPreferences": True,
    },
    "social": {
        "links": [
            {"network": "facebook", "href": "https://facebook.com/"},
            {"network": "instagram", "href": "https://instagram.com/"},
            {"network": "x", "href": "https://x.com/"},
        ]
    },
    "variable": {"name": "subscriber.name", "fallback": "friend"},
    "conditional": {"condition": "subscriber.attributes.plan == 'gold'"},
    "loop": {"items": "cart.items", "as": "item"},
}
# Children a new block starts with ("@text" is a text block with this text).
DEFAULT_CHILDREN = {
    "section": [
        {"type": "column", "children": [{"type": "text", "props": {"text": "Left column"}}]},
        {"type": "column", "children": [{"type": "text", "props": {"text": "Right column"}}]},
    ],
    "container": [{"type": "text", "props": {"text": "Text inside the container"}}],
    "conditional": [{"type": "text", "props": {"text": "Shown when the condition holds."}}],
    "loop": [{"type": "text", "props": {"text": "{{ item.name }}"}}],
}

ALIGN = (("left", "Left"), ("center", "Centre"), ("right", "Right"))
# Per prop: label, help. Order follows the schema.
LABELS = {
    "backgroundColor": ("Background colour", None),
    "padding": ("Padding", "Top and bottom, then sides, e.g. 20px 0px"),
    "width": ("Width", None),
    "color": ("Colour", None),
    "thickness": ("Thickness (px)", None),
    "height": ("Height (px)", None),
    "text": ("Text", None),
    "level": ("Level", None),
    "align": ("Alignment", None),
    "fontSize": ("Font size (px)", None),
    "src": ("Image", "An https:// address, or upload one"),
    "alt": ("Alternative text", "Read aloud by screen readers and shown when images are off"),
    "href": ("Link", "https://, mailto: or a variable such as {{ unsubscribe_url }}"),
    "title": ("Title", None),
    "subtitle": ("Subtitle", None),
    "imageUrl": ("Image", "Optional; an https:// address, or upload one"),
    "buttonText": ("Button text", "Leave empty for no button"),
    "buttonHref": ("Button link", None),
    "address": ("Postal address", "The law in most countries asks for it in marketing email"),
    "showUnsubscribe": ("Show the unsubscribe link", "Required in marketing email"),
    "showPreferences": ("Show the preferences link", None),
    "links": ("Links", None),
    "name": ("Variable", "e.g. subscriber.name or subscriber.attributes.city"),
    "fallback": ("Fallback", "Shown when the variable is empty"),
    "condition": ("Condition", "e.g. subscriber.attributes.plan == 'gold' or cart.total > 100"),
    "items": ("Items", "A list in the data, e.g. cart.items"),
    "as": ("Each item is called", "Use it in the blocks inside, e.g. {{ item.name }}"),
    "stackOnMobile": ("Stack the columns on phones", "Untick to keep them side by side (e.g. item rows)"),
    "verticalAlign": ("Vertical alignment", None),
    "borderRadius": ("Corner radius (px)", None),
    "fullWidth": ("Full width", None),
    "imageAlt": ("Image alternative text", None),
    "buttonBackgroundColor": ("Button colour", None),
    "buttonColor": ("Button text colour", None),
}
# Where one prop name means something different on one block type.
TYPE_LABELS_OVERRIDE = {
    ("hero", "color"): "Text colour",
    ("button", "color"): "Text colour",
    ("footer", "color"): "Text colour",
    ("button", "backgroundColor"): "Button colour",
    ("image", "padding"): "Padding",
    ("column", "padding"): "Padding",
}
WIDGETS = {
    "colour": "colour",
    "padding": "text",
    "colwidth": "text",
    "int": "number",
    "enum": "select",
    "text": "text",
    "html": "richtext",
    "src": "image",
    "href": "text",
    "bool": "checkbox",
    "social": "social",
    "dotted": "text",
    "ident": "text",
    "condition": "text",
    "imgwidth": "number",
}
LONG_TEXT = {("hero", "subtitle"), ("footer", "text"), ("footer", "address")}


def default_block(btype: str, base_url: str) -> dict:
    """A new block of this type, without ids (the builder gives them)."""
    props = {
        k: (v.replace("{base_url}", base_url) if isinstance(v, str) else v) for k, v in DEFAULT_PROPS[btype].items()
    }
    block = {"type": btype, "props": props}
    if btype in DEFAULT_CHILDREN:
        block["children"] = DEFAULT_CHILDREN[btype]
    if btype == "conditional":
        block["else"] = []
    return block


def panel_fields(btype: str, props: dict) -> list[dict]:
    """The properties panel of one block: one dict per field, with its current value."""
    fields = []
    for name, (kind, options, _default) in PROPS[btype].items():
        label, help_text = LABELS.get(name, (name, None))
        label = TYPE_LABELS_OVERRIDE.get((btype, name), label)
        if btype == "column" and name == "width":
            help_text = "e.g. 50% or 300px; empty shares the row equally"
        if btype == "image" and name == "width":
            label, help_text = "Width (px)", "Empty for the full width"
        widget = WIDGETS[kind]
        if widget == "text" and (btype, name) in LONG_TEXT:
            widget = "textarea"
        field = {
            "name": name,
            "label": label,
            "help": help_text,
            "widget": widget,
            "value": props.get(name),
        }
        if kind == "enum":
            field["choices"] = ALIGN if name == "align" else tuple((o, o.capitalize()) for o in options)
        if kind == "int":
            field["min"], field["max"] = options
        if btype == "header" and name == "level":
            field["widget"] = "select"
            field["choices"] = (("1", "Heading 1"), ("2", "Heading 2"), ("3", "Heading 3"))
            field["value"] = str(props.get(name, 1))
        if kind == "imgwidth":
            field["min"], field["max"] = 16, 800
        fields.append(field)
    return fields


FONT_CHOICES = tuple((f, f.split(",")[0]) for f in SAFE_FONTS)
NETWORKS = SOCIAL_NETWORKS
