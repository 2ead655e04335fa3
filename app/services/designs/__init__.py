"""Visual designs (API.md "Visual design JSON"): validation and compilation to MJML, HTML and text.

validate_design(design) -> dict                    normalized design or ValidationError
compile_design(design) -> CompiledDesign           mjml, html, text (both Jinja), size, warnings
require_unsubscribe(design, category) -> None      ValidationError for marketing without unsubscribe

blocks/      the block registry: one module per block type (props, palette entry, MJML and text)
schema.py    validation, reading the registry;  compiler.py  MJML, HTML and text, reading the registry
"""

from app.services.designs.compiler import (
    GMAIL_CLIP_BYTES,
    CompiledDesign,
    compile_design,
    has_unsubscribe_link,
    require_unsubscribe,
)
from app.services.designs.schema import BLOCK_TYPES, MAX_BLOCKS, MAX_DEPTH, validate_design

__all__ = [
    "BLOCK_TYPES",
    "GMAIL_CLIP_BYTES",
    "MAX_BLOCKS",
    "MAX_DEPTH",
    "CompiledDesign",
    "compile_design",
    "has_unsubscribe_link",
    "require_unsubscribe",
    "validate_design",
]
