"""Campaigns: from a draft to messages handed off, and what came of them.

Where a campaign starts, pauses and ends is one module: `lifecycle`. Everything that begins work
(a send, a scheduled send, a resend, an A/B release, a recurring run) goes through it, and it
queues jobs through `dispatch`.

    settings       SETTINGS: each setting of a campaign declared once (how it is cleaned, its
                   default, whether a run copies it), read by drafts, recurring, the form and the API
    drafts         create, edit, list and read campaigns; their audience and settings
    pages          read models of the campaign pages (campaign_page, campaign_progress,
                   campaign_form), shared by the dashboard and the API
    lifecycle      the state machine (draft → scheduled → sending → sent, paused, cancelled)

  The send engine, in the order a message meets it:
    dispatch       the jobs: enqueue_prepare, prepare_and_queue (the `prepare_campaign` job and
                   what the tests call), one `send_batch` job per range, requeues of lost work
    recipients     the recipient rows: written once from the audience, batch ranges, finished
    sending        send_batch: BatchRun claims a chunk, delivers each row, settles the chunk
    messages       the message compiled once per campaign, built per recipient; view in browser
    outcomes       what each hand-off's answer means (a table) and recording a chunk in one go
    send_checks    preflight and per-recipient rendering checks the engine relies on
    send_windows   the days and hours a campaign may send in
    send_progress  live rate and time-left figures for the campaign page

  Around it:
    ab_tests       A/B variants, the test portion, each variant's figures
    ab_stats       the statistics of an A/B test (pure functions)
    ab_winner      picking the winner (by the metric, or the marketer) and releasing the rest
    recurrence     a series' schedule: checked, described, turned into dates
    recurring      recurring series: one child campaign per run, started through the lifecycle
    test_sends     "[Test]" sends of a template or campaign to a few addresses

Imports point down: sending, dispatch and outcomes read recipients, messages and the domains
below (content, delivery, events); lifecycle reads drafts and dispatch; ab_winner and recurring
read lifecycle; pages reads them all and nothing here reads pages. Nothing in content/,
audience/ or delivery/ imports this package.
"""
