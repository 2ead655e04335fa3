"""Campaigns: from a draft to messages handed off, and what came of them.

Where a campaign starts, pauses and ends is one module: `lifecycle`. Everything that begins work
(a send, a scheduled send, a resend, an A/B release, a recurring run) goes through it.

    settings      SETTINGS: each setting of a campaign declared once (how it is cleaned, its default,
                  whether a run copies it), read by drafts, recurring, the form and the API
    drafts        create, edit, list and read campaigns; their audience and settings
    pages         read models of the campaign pages (campaign_page, campaign_progress, campaign_form),
                  shared by the dashboard and the API
    lifecycle     the state machine (draft → scheduled → sending → sent, paused, cancelled);
                  prepare_and_queue, the one service the prepare job and the tests call
    sending       the send engine: materialize recipients, batch, claim, build, hand off, record
    send_checks   preflight and per-recipient rendering checks the engine relies on
    send_windows  the days and hours a campaign may send in
    send_progress live rate and time-left figures for the campaign page
    ab_tests      A/B variants, the test portion, picking and releasing the winner
    ab_stats      the statistics of an A/B test (pure functions)
    recurring     recurring series: a parent's schedule, one child campaign per run
    test_sends    "[Test]" sends of a template or campaign to a few addresses

Imports point down: drafts reads settings; lifecycle reads drafts and sending; ab_tests and recurring
read lifecycle; pages reads them all and nothing here reads pages; nothing here is imported by
content/, audience/ or delivery/.
"""
