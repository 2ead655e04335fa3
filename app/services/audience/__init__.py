"""Audience: who receives mail.

    contacts        subscribers, lists, memberships and the suppression list
    imports         CSV imports from the dashboard: park, map, import now or by a job
    import_columns  reading a CSV, guessing what each column is, checking a mapping
    import_sms      an import's phone numbers and consent to texts, read per row, STOPs looked up per chunk
    preferences     categories, each person's choice per category (subscribed, frequency), the counts,
                    and the preference center's save and its /p/<token> link
    suppression     the suppression list a marketer manages (addresses, @domains, role addresses), its
                    import and export, and how people left (unsubscribes by source)
    privacy         a person's data on request: the export document and erasure
    tags            tags on subscribers: normalising, adding and removing, bulk, the workspace's counts
    consent         what a subscriber's `consent` records (time, IP, method, form)
    signups         a new subscriber from the dashboard, the API or a form (source, consent, double
                    opt-in), and a known person signing up again through a form
    double_opt_in   the confirmation email, the confirm link's look-up and confirmation, the purge
    signup_forms    signup forms: settings, inputs, the embed snippet, a public submission, its rate limit

Segments and preferences will live here too.
"""
