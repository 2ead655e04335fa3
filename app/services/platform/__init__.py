"""Platform: workspaces, the people in them, and the first page they see.

    workspaces  workspaces, owners, sign-in and API keys
    overview    the overview page: first-run checklist and headline figures

Loose beside the packages stay the small utilities every domain uses: errors, ids, pagination,
transactions, tokens and crypto.
"""
