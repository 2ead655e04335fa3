"""Audience: who receives mail.

    contacts        subscribers, lists, memberships and the suppression list
    imports         CSV imports from the dashboard: park, map, import now or by a job
    import_columns  reading a CSV, guessing what each column is, checking a mapping

Segments and preferences will live here too.
"""
