"""Events: what comes back after a message went out, in one normalized log.

    webhook_intake   provider webhooks in: verify, store durably, queue, process
    provider_events  delivered, bounces, complaints, ...: into the log, and what each changes
    mailin           bounces, complaints and replies that reach a VERP return path by SMTP
    tracking         opens, clicks and unsubscribes from recipients (pixel and links)
    message_tracking opens and clicks of transactional messages (written straight away: few)
    verdicts         a person's open or click, or a machine's (Apple's prefetch, a proxy, a scanner): the rules
    engagement       judging the drain's hits with those rules, human figures, re-judging history
    event_log        writing many event rows once each, in few statements

The vocabulary (event and bounce types) is app/event_types.py; events fan out to a workspace's
own URLs through app/services/outbound_webhooks/.
"""
