"""Platform: workspaces, the people in them, the first page they see, and what needs them.

    workspaces  workspaces, owners, sign-in and API keys
    overview    the overview page: first-run checklist and headline figures
    alerts      what needs a person: one open alert per (kind, subject), the bell's count, and the
                `alert.raised` webhook and owners' email when one opens

Loose beside the packages stay the small utilities every domain uses: errors, ids, pagination,
transactions, tokens and crypto.
"""
