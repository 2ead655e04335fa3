"""Platform: workspaces, the people in them, the first page they see, and what needs them.

    workspaces  workspaces, owners, sign-in and API keys (each with a role)
    roles       the one policy: which role (owner, admin, marketer, analyst) may take which kind of
                action; the dashboard and the API apply it before every request
    team        members and their roles, invitations by link and email
    audit       the audit log: `record` in the transaction of every change worth it, and its read model
    overview    the overview page: first-run checklist and headline figures
    branding    the logo and colour of the workspace's public pages, checked when saved and when drawn
    alerts      what needs a person: one open alert per (kind, subject), the bell's count, and the
                `alert.raised` webhook and owners' email when one opens

Loose beside the packages stay the small utilities every domain uses: errors, ids, pagination,
transactions, tokens and crypto.
"""
