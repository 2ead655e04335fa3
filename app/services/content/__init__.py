"""Content: what a message says and how it is rendered.

    templates     email templates (code or visual): validation, storage, versions, previews
    saved_blocks  blocks a workspace keeps for reuse in the builder
    media         images for emails, checked and stored locally or in S3
    rendering     personalization in Jinja's sandbox, compiled once and rendered per recipient
    render_limits the work and memory one render may take
    qp_jinja      templates that render straight to quoted-printable
    mime          multipart/alternative messages from a skeleton, bodies per message
    html_text     HTML to plain text, and the checks HTML must pass

Visual designs (blocks, MJML compilation) are their own package: app/services/designs/.
This package imports nothing from campaigns/, audience/, delivery/ or events/.
"""
