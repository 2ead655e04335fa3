"""Campaigns: from a draft to messages handed off, and what came of them.

Where a campaign starts, pauses and ends is one module: `lifecycle`. Everything that begins work
(a send, a scheduled send, a resend, an A/B release, a recurring run) goes through it.

    drafts        create, edit, list and read campaigns; their audience and settings
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

Imports point down: lifecycle reads drafts and sending; ab_tests and recurring read lifecycle;
nothing here is imported by content/, audience/ or delivery/.
"""
