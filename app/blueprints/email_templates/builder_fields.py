"""What the builder shows for each block type: its palette entry, its default content, and
the fields of its properties panel. The kinds of value come from the design schema, so the
panel can never offer a prop the validator would refuse."""

from app.services.designs import blocks
from app.services.designs.blocks import BLOCKS
from app.services.designs.schema import PROPS, SAFE_FONTS, SOCIAL_NETWORKS

# Each block type's module (app/services/designs/blocks/) declares its palette entry, label, icon
# and what it holds when it is dropped in (always valid, so the design saves at once).
PALETTE = blocks.PALETTE  # (group label, [(type, label, Tabler icon, short description)]), in order
BUILDER_TABLE = blocks.BUILDER_TABLE  # builder.js reads it from the page: each type's label and places
TYPE_LABELS = {t: spec.label for t, spec in BLOCKS.items()}
TYPE_ICONS = {t: spec.icon for t, spec in BLOCKS.items()}
DEFAULT_PROPS = {t: spec.new_props for t, spec in BLOCKS.items()}
# Children a new block starts with.
DEFAULT_CHILDREN = {t: spec.new_children for t, spec in BLOCKS.items() if spec.new_children is not None}

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
    "literal": "text",  # a variable's fallback: plain text, printed as a string literal
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
    if BLOCKS[btype].has_else:
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
